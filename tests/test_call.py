"""`cliq-mcp call` and the Python API: one tool without an LLM, same validation, guard and audit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ALICE, Q2, Cliq, api_calls, env_for, outside_env, writes
from simulated_cliq import Workspace

from cliq_mcp.serve.tool_call import call


def run(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = outside_env()
    return subprocess.run(
        [sys.executable, "-m", "cliq_mcp", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, env={**base, **env_for(url), **env},
    )  # fmt: skip


def test_call_prints_structured_json_and_exits_zero(cliq_socket: Cliq, workspace: Workspace) -> None:
    done = run(cliq_socket.url, "call", "get_chat", json.dumps({"chat_id": Q2}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["chat"]["chat_id"] == Q2
    text = run(cliq_socket.url, "call", "get_chat", json.dumps({"chat_id": Q2}), "--text")
    assert text.returncode == 0 and text.stdout.startswith(f"Chat {Q2}")
    assert [r.path for r in api_calls(workspace)] == [f"/api/v3/chats/{Q2}"] * 2


def test_call_exit_codes(cliq_socket: Cliq, workspace: Workspace, tmp_path: Path) -> None:
    audit = str(tmp_path / "audit.jsonl")
    assert run(cliq_socket.url, "call", "get_chat", '{"chat_id": "../x"}').returncode == 1  # refused input
    assert run(cliq_socket.url, "call", "get_chat", "not json").returncode == 2
    assert run(cliq_socket.url, "call", "get_chat", "[1]").returncode == 2
    assert run(cliq_socket.url, "call", "no_such_tool").returncode == 2  # usage: named with the closest tools
    refused = run(cliq_socket.url, "--audit-log", audit, "call", "close_chat", json.dumps({"chat_id": Q2}))
    assert refused.returncode == 1 and "nobody can be asked" in refused.stdout  # no terminal, no person
    trusting = ("--audit-log", audit, "--guard", "trust-host")
    preview = run(cliq_socket.url, *trusting, "call", "close_chat", json.dumps({"chat_id": Q2}))
    assert preview.returncode == 3  # waiting for a person's yes; nothing changed
    assert json.loads(preview.stdout)["preview"]["confirmation_token"]
    assert (
        run(
            cliq_socket.url, "call", "rename_chat", json.dumps({"chat_id": Q2, "title": "x", "dry_run": True})
        ).returncode
        == 0
    )
    assert writes(workspace) == []
    outcomes = [json.loads(line)["outcome"] for line in Path(audit).read_text().splitlines()]
    assert outcomes == ["refused", "preview"]


def test_a_cron_job_tidies_allow_listed_chats_unattended(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    env = {"CLIQ_GUARD": "unattended", "CLIQ_UNATTENDED_CHATS": Q2, "CLIQ_AUDIT_LOG": str(audit)}
    closed = run(cliq_socket.url, "call", "close_chat", json.dumps({"chat_id": Q2}), **env)
    refused = run(cliq_socket.url, "call", "close_chat", json.dumps({"chat_id": ALICE}), **env)
    assert closed.returncode == 0 and json.loads(closed.stdout)["done"] == "closed"
    assert refused.returncode == 1 and "unattended allow-list" in refused.stdout
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    # On record before it was sent ("sending"), then how it ended.
    assert [(x["outcome"], x.get("confirmed_by")) for x in lines] == [
        ("sending", "unattended"), ("acted", "unattended"), ("refused", None)]  # fmt: skip


async def test_python_api_with_a_person_answering(cliq_socket: Cliq, workspace: Workspace) -> None:
    settings = cliq_socket.settings()  # cliq_mcp.api.call builds its own server: it reaches Cliq over a socket
    questions: list[str] = []

    async def yes(question: str) -> bool:
        questions.append(question)
        return True

    listed = await call("list_chats", {"limit": 3}, settings=settings)
    assert listed.ok and len(listed.data["chats"]) == 3 and listed.text.startswith("3 chats")
    closed = await call("close_chat", {"chat_id": Q2}, settings=settings, ask=yes)
    assert closed.ok and not closed.pending_confirmation
    assert "Q2 Product Review" in questions[0]
    refused = await call("close_chat", {"chat_id": ALICE}, settings=settings, ask=lambda q: _no())
    assert not refused.ok and "Nothing was changed" in refused.text
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def _no() -> bool:
    return False


def call_at_a_terminal(url: str, answer: str, tmp_path: Path, *args: str) -> tuple[int, str, bytes]:
    """Run `cliq-mcp call` with a pseudo-terminal as its controlling terminal, and stdin a pipe that says
    "yes": the person answers ``answer`` at the terminal, and what stdin says must not count."""
    import os
    import pty
    import select
    import time

    master, terminal = pty.openpty()
    take_terminal = "import os, sys; os.open(sys.argv[1], os.O_RDWR); os.execv(sys.executable, [sys.executable, '-m', 'cliq_mcp', *sys.argv[2:]])"  # noqa: E501
    piped = tmp_path / "stdin"
    piped.write_text("yes\nyes\n")
    with piped.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-c", take_terminal, os.ttyname(terminal), *args],
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**outside_env(), **env_for(url)},
        )  # fmt: skip
    shown = b""
    deadline = time.monotonic() + 60  # a safety net only
    while b"Type 'yes'" not in shown and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            shown += os.read(master, 4096)
    os.write(master, answer.encode() + b"\n")
    out, _ = proc.communicate(timeout=60)
    os.close(terminal)  # held open till now: reading the other end fails while no process has it open
    os.close(master)
    return proc.returncode, out.decode(), shown


def test_at_a_terminal_the_question_is_asked_there_never_on_stdin(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    args = ("call", "close_chat", json.dumps({"chat_id": Q2}))
    refused, out, shown = call_at_a_terminal(cliq_socket.url, "no", tmp_path, *args)
    assert b"Q2 Product Review" in shown and b"Close" in shown  # the question, at the terminal
    assert refused == 1 and "did not confirm" in out and writes(workspace) == []  # stdin's "yes" did not count
    done, out, _ = call_at_a_terminal(cliq_socket.url, "yes", tmp_path, *args)
    assert done == 0, out
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]
