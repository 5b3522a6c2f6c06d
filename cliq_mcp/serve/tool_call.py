"""Calling a tool without an LLM: from Python, or ``cliq-mcp call <tool> '<json>'``.

A call runs through an in-memory MCP session with the same server, so validation, the guard's policy
and the audit log are exactly those of MCP calls. Destructive tools need a person's yes as always: at
a terminal the question is asked there (on /dev/tty, never read from stdin); unattended, use
``CLIQ_GUARD=unattended`` with an allow-list.

    import anyio
    from cliq_mcp.serve.tool_call import call
    result = anyio.run(call, "list_chats", {"limit": 5})
    print(result.ok, result.data, result.text)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cliq_mcp.core.config import Settings
from cliq_mcp.tools.row import ReportProgress

Asker = Callable[[str], Awaitable[bool]]


@dataclass(frozen=True)
class Result:
    ok: bool  # False: the tool answered with an error
    text: str  # the summary a model would read
    data: dict[str, Any] | None  # structured content (None on errors)

    @property
    def pending_confirmation(self) -> bool:
        """A destructive call answered with a preview and a confirmation token instead of acting."""
        preview = (self.data or {}).get("preview") or {}
        return "confirmation_token" in preview


async def call(
    tool: str,
    arguments: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    ask: Asker | None = None,
    progress: ReportProgress | None = None,
) -> Result:
    """Run one tool. ``settings`` default to the environment; ``ask`` answers confirmation questions;
    ``progress`` hears what a long tool reports as it works."""
    from mcp import Client
    from mcp.types import ElicitResult, TextContent

    from cliq_mcp.serve.server import build_server

    async def on_elicit(context: Any, params: Any) -> ElicitResult:
        assert ask is not None
        return ElicitResult(action="accept", content={"confirm": await ask(params.message)})

    server = build_server(settings or Settings.from_env(os.environ))
    options: dict[str, Any] = {"elicitation_callback": on_elicit} if ask else {}
    async with Client(server, **options) as client:
        answer = await client.call_tool(tool, dict(arguments or {}), progress_callback=progress)
    text = "\n".join(c.text for c in answer.content if isinstance(c, TextContent))
    return Result(ok=not answer.is_error, text=text, data=answer.structured_content)


TERMINAL = "/dev/tty"


def has_terminal() -> bool:
    """Whether this process has a controlling terminal a person can answer at."""
    try:
        with open(TERMINAL, "r+b", buffering=0):
            return True
    except OSError:
        return False


async def ask_at_terminal(question: str) -> bool:
    """Ask on the controlling terminal (/dev/tty), never on stdin: piped input is data, not a person's answer.
    Only an explicit yes counts."""
    import anyio.to_thread

    def read() -> bool:
        try:
            with open(TERMINAL, "w", encoding="utf-8") as shown, open(TERMINAL, encoding="utf-8") as typed:
                shown.write(f"{question}\nType 'yes' to go ahead: ")
                shown.flush()
                return typed.readline().strip().lower() == "yes"
        except OSError:  # the terminal went away: no answer is a no
            return False

    return await anyio.to_thread.run_sync(read)
