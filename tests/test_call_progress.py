"""`cliq-mcp call` shows what a long tool reports: a bar at a terminal, plain lines in a pipe, nothing with
--quiet; the JSON on stdout is the same in every case."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

from conftest import ALICE, Cliq, env_for, outside_env, writes
from simulated_cliq import Workspace

OTHER = "2890538000000067890"
BULK = ("call", "close_chats", json.dumps({"chat_ids": [ALICE, OTHER]}))
UNATTENDED = {"CLIQ_GUARD": "unattended", "CLIQ_UNATTENDED_CHATS": f"{ALICE},{OTHER}"}


def done_ids(stdout: str) -> list[str]:
    return [item["chat_id"] for item in json.loads(stdout)["items"] if item["outcome"] == "done"]


def run(url: str, *args: str, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliq_mcp", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=60,
        env={**outside_env(), **env_for(url), **UNATTENDED},
    )  # fmt: skip


def at_a_terminal(url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """stderr on a pseudo-terminal (stdout still a pipe, as when a person pipes the JSON into jq)."""
    master, terminal = pty.openpty()
    try:
        done = run(url, *args, stderr=terminal)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: everything written has been read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    return done, shown.decode(errors="replace")


def test_plain_lines_when_stderr_is_not_a_terminal(cliq_socket: Cliq, workspace: Workspace) -> None:
    done = run(cliq_socket.url, *BULK)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"] == [{"chat_id": c, "outcome": "done"} for c in (ALICE, OTHER)]
    lines = [line for line in done.stderr.splitlines() if line.startswith("cliq-mcp: ")]
    assert lines == ["cliq-mcp: 1 of 2 chats", "cliq-mcp: 2 of 2 chats"]
    assert "\x1b[" not in done.stderr  # no terminal codes in a log file
    assert [w.path for w in writes(workspace)] == [f"/api/v3/chats/{ALICE}", f"/api/v3/chats/{OTHER}"]


def test_a_bar_at_a_terminal_and_nothing_with_quiet(cliq_socket: Cliq, workspace: Workspace) -> None:
    plan = ("call", "plan_tidy", json.dumps({"inactive_days": 3650}))  # nothing that old: it walks every page
    done, shown = at_a_terminal(cliq_socket.url, *plan)
    assert done.returncode == 0, shown
    assert "chats scanned" in shown and "\x1b[" in shown  # drawn with terminal codes
    quiet, nothing = at_a_terminal(cliq_socket.url, *plan, "--quiet")
    assert quiet.returncode == 0 and "chats scanned" not in nothing
    assert json.loads(done.stdout)["actions"] == json.loads(quiet.stdout)["actions"]

    bulk, bar = at_a_terminal(cliq_socket.url, *BULK)
    assert bulk.returncode == 0 and done_ids(bulk.stdout) == [ALICE, OTHER]
    assert "2 of 2 chats" in bar and "2/2" in bar  # the message and the bar's count


def test_quiet_in_a_pipe_prints_only_the_json(cliq_socket: Cliq) -> None:
    done = run(cliq_socket.url, *BULK, "--quiet")
    assert done.returncode == 0 and done_ids(done.stdout) == [ALICE, OTHER]
    assert "of 2 chats" not in done.stderr
