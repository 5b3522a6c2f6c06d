"""Started at a terminal, `cliq-mcp` says what it is and what to do, keeps serving, and stops cleanly on
Ctrl-C and Ctrl-D; started by a client (stdin a pipe) it says none of it."""

from __future__ import annotations

import os
import pty
import select
import shlex
import subprocess
import sys
import time

import pytest
from conftest import outside_env

# A session of its own with the pseudo-terminal as its controlling terminal (so Ctrl-C is a SIGINT), the
# terminal as stdin, stdout and stderr, then the server: as a person's shell would start it.
AT_A_TERMINAL = (
    "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); [os.dup2(fd, n) for n in (0, 1, 2)]; "
    "os.execv(sys.executable, [sys.executable, '-m', 'cliq_mcp', *sys.argv[2:]])"
)
END_OF_BANNER = b"Ctrl-C or Ctrl-D stops it."


def read_until(master: int, needle: bytes, shown: bytes = b"") -> bytes:
    deadline = time.monotonic() + 60  # a safety net only
    while needle not in shown and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process has gone and the terminal is closed
                break
            if not chunk:
                break
            shown += chunk
    return shown


def at_a_terminal(key: bytes) -> tuple[int, str]:
    """Start the server at a terminal, wait for its banner, press ``key``; its exit status and the screen."""
    master, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_A_TERMINAL, os.ttyname(terminal), "--sandbox"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, env=outside_env(),
    )  # fmt: skip
    try:
        shown = read_until(master, END_OF_BANNER)
        os.write(master, key)
        status = proc.wait(timeout=60)
        os.close(terminal)  # now the screen can be read to its end
        shown = read_until(master, b"\x00never", shown)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return status, shown.decode(errors="replace").replace("\r\n", "\n")


@pytest.fixture(scope="module")
def ctrl_d() -> tuple[int, str]:
    return at_a_terminal(b"\x04")


def test_the_banner_says_what_it_is_and_how_to_connect(ctrl_d: tuple[int, str]) -> None:
    _, shown = ctrl_d
    assert "an MCP server for Zoho Cliq chats" in shown and shown.count("simulated sandbox") == 1  # said once
    assert "speaks MCP over stdio" in shown
    for client in ("claude-desktop", "claude-code", "vscode"):
        assert f" config {client}" in shown
    assert shown.count(" call ") == 2


def test_the_two_commands_it_suggests_work(ctrl_d: tuple[int, str]) -> None:
    _, shown = ctrl_d
    suggested = [shlex.split(line) for line in shown.splitlines() if " call " in line]
    for words in suggested:
        assert words[-1] in ("--sandbox", "--text") and "--sandbox" in words
        done = subprocess.run(words, capture_output=True, text=True, timeout=60, env=outside_env())
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()


def test_ctrl_d_and_ctrl_c_stop_it_without_a_traceback(ctrl_d: tuple[int, str]) -> None:
    status, shown = ctrl_d
    assert status == 0 and "stopped (end of input)" in shown and "Traceback" not in shown
    status, shown = at_a_terminal(b"\x03")
    assert status == 130 and "stopped (Ctrl-C)" in shown and "Traceback" not in shown


def test_a_client_on_a_pipe_sees_none_of_it() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cliq_mcp", "--sandbox"],
        input="", capture_output=True, text=True, timeout=60, env=outside_env(),
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout == ""  # stdout is the protocol: nothing but answers
    assert "speaks MCP" not in done.stderr and "config claude-desktop" not in done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert "cliq_mcp.serve.server" in imported  # it served
    # The terminal's modules stay off the server's path. (rich itself is loaded by httpx, whose own command
    # line module imports it whenever it is installed: about 5% of the start-up, not ours to avoid.)
    front = {"cliq_mcp.cli.banner", "cliq_mcp.cli.bundle", "cliq_mcp.cli.audit_view", "cliq_mcp.cli.progress"}
    assert front.isdisjoint(imported)
