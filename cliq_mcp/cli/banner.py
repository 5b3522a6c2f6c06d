"""What a person sees who starts ``cliq-mcp`` at a terminal: what it is, how to connect a client, what to try.

Only when stdin is a terminal: a real MCP client gives the server a pipe and sees none of it. Printed on
stderr (stdout is the protocol), then the server keeps serving. Ctrl-D (end of input) ends it as it ends
for a client that closes the pipe; Ctrl-C ends it at once, with a line rather than a traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
from typing import IO, Any

from cliq_mcp import __version__
from cliq_mcp.cli.host_config import server_command

TRY_CHAT = "2890538000000099999"  # a group chat of the sandbox's seed


def command_words() -> list[str]:
    """How this person runs this installation: ``cliq-mcp`` when that is what PATH finds, else the full path
    (or ``python -m cliq_mcp``)."""
    command, args = server_command()
    if not args and shutil.which("cliq-mcp") == command:
        return ["cliq-mcp"]
    return [command, *args]


def text(*, sandbox: bool, credentials: bool) -> str:
    me = shlex.join(command_words())
    if sandbox:
        where = "the simulated sandbox workspace (no Zoho account used)"
    elif credentials:
        where = "your Zoho Cliq account"
    else:
        where = "no account yet: run `" + me + " auth` to sign in, or start it with --sandbox"
    return "\n".join(
        (
            f"cliq-mcp {__version__}: an MCP server for Zoho Cliq chats, serving {where}.",
            "It speaks MCP over stdio: an MCP client starts it and talks JSON-RPC on its stdin and stdout,",
            "so there is nothing to type here. Connect a client instead (add --write to merge the entry into",
            "the client's file, --sandbox to try it without an account):",
            f"  {me} config claude-desktop",
            f"  {me} config claude-code",
            f"  {me} config vscode",
            "Or try a tool without any client:",
            f"  {me} call list_chats '{{\"limit\": 5}}' --sandbox",
            f'  {me} call get_chat \'{{"chat_id": "{TRY_CHAT}"}}\' --sandbox --text',
            "Serving on this terminal now; Ctrl-C or Ctrl-D stops it.",
        )
    )


def show(*, sandbox: bool, credentials: bool, stream: IO[str] | None = None) -> None:
    """Print the banner and make Ctrl-C stop the server cleanly. The stdio reader blocks in a thread that
    an interrupt cannot wake (the server would hang until the next line of input), so Ctrl-C exits at once:
    nothing is mid-write at a terminal, where no client is connected."""
    shown = stream or sys.stderr

    def stop(signum: int, frame: Any) -> None:
        shown.write("\ncliq-mcp: stopped (Ctrl-C).\n")
        shown.flush()
        os._exit(130)  # the shell's usual status for Ctrl-C

    signal.signal(signal.SIGINT, stop)  # first: a Ctrl-C the moment the banner appears is handled too
    print(text(sandbox=sandbox, credentials=credentials), file=shown, flush=True)


def stopped(stream: IO[str] | None = None) -> None:
    print("cliq-mcp: stopped (end of input).", file=stream or sys.stderr)
