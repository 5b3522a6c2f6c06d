"""`cliq-mcp audit`: the log real guarded calls wrote, shown as a table a person reads, filtered, and as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ALICE, Q2, Cliq, answering, env_for, outside_env
from mcp import Client

from cliq_mcp.core.config import Settings

CLOSED = "2890538000000067890"  # a third chat of the seed, closed in one batch with ALICE


def audit(log: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "audit", *args],
        env={**outside_env(), "CLIQ_AUDIT_LOG": str(log), "COLUMNS": "220", **env},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audit log written by the guard itself, through an MCP client, once for the module: a write, a yes
    given in an elicitation, a no, a dry run, a batch of two chats, a refused input. The last line is copied
    three days into the past, to have something --since leaves out."""
    import anyio
    from simulated_cliq import FakeTime, Workspace, observed

    folder = tmp_path_factory.mktemp("audit")
    path = folder / "audit.jsonl"

    async def calls() -> None:
        import httpx

        cliq = Cliq("http://cliq.test", httpx.ASGITransport(app=observed(Workspace())), FakeTime())
        settings = Settings.from_env(env_for(cliq.url, CLIQ_AUDIT_LOG=str(path), XDG_STATE_HOME=str(folder)))
        yes, no = answering("accept", {"confirm": True}), answering("decline")
        async with Client(cliq.server(settings), elicitation_callback=yes) as client:
            await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Audited review"})
            await client.call_tool("close_chats", {"chat_ids": [ALICE, CLOSED]})
            await client.call_tool("get_chat", {"chat_id": Q2})  # a read: no line
            await client.call_tool("mute_chat", {"chat_id": 2890538000000099999})  # a number: invalid input
        async with Client(cliq.server(settings), elicitation_callback=no) as client:
            await client.call_tool("close_chat", {"chat_id": Q2})
            await client.call_tool("clear_chat_history", {"chat_id": Q2, "dry_run": True})

    anyio.run(calls)
    lines = path.read_text().splitlines()
    old = json.loads(lines[0])
    old["time"] = (datetime.fromisoformat(old["time"]) - timedelta(days=3)).isoformat(timespec="milliseconds")
    path.write_text("\n".join([*lines, json.dumps(old), "{cut sh"]) + "\n")  # and one line cut short
    return path


def entries(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_table_shows_newest_first_with_titles_confirmation_and_outcome(log: Path) -> None:
    shown = audit(log)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if "│" in line]  # the body (the header is drawn in ┃)
    tools = [row.split("│")[2].strip() for row in rows if row.split("│")[2].strip()]
    assert tools == ["clear_chat_history", "close_chat", "mute_chat", "close_chats", "rename_chat", "rename_chat"]
    text = shown.stdout
    assert "Audited review" in text and f"({Q2})" in text  # the title the guard read when it asked, and the id
    assert "elicitation" in text and "declined" in text and "dry_run" in text and "invalid" in text
    assert ALICE in text and CLOSED in text
    assert "skipped 1 line(s)" in shown.stderr
    assert "sandbox-token" not in text + shown.stderr


def test_filters_and_json(log: Path) -> None:
    everything = entries(audit(log, "--json"))
    assert [e["tool"] for e in everything][:2] == ["clear_chat_history", "close_chat"]
    assert all(set(e) == {"time", "tool", "outcome", "chats", "confirmed_by", "detail", "sandbox"} for e in everything)
    assert not any(e["sandbox"] for e in everything)  # the account's own acts
    assert [e["tool"] for e in entries(audit(log, "--json", "--since", "1d"))] == [
        e["tool"] for e in everything[:-1]
    ]  # the line three days old is left out
    assert len(entries(audit(log, "--json", "--since", "4d"))) == len(everything)
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert entries(audit(log, "--json", "--since", tomorrow)) == []

    (batch,) = entries(audit(log, "--json", "--tool", "close_chats"))
    assert batch["outcome"] == "acted" and batch["confirmed_by"] == "elicitation"
    assert [c["id"] for c in batch["chats"]] == [ALICE, CLOSED] and all(c["title"] for c in batch["chats"])

    declined = entries(audit(log, "--json", "--outcome", "declined"))
    assert [(e["tool"], e["chats"][0]["id"]) for e in declined] == [("close_chat", Q2)]
    by_title = entries(audit(log, "--json", "--chat", "audited REVIEW"))  # part of a title, any case
    assert {e["tool"] for e in by_title} == {"close_chat"}  # the title the guard read when it asked
    by_id = entries(audit(log, "--json", "--chat", Q2))
    assert {e["tool"] for e in by_id} == {"rename_chat", "close_chat", "clear_chat_history"}
    (invalid,) = entries(audit(log, "--json", "--outcome", "invalid"))
    assert invalid["tool"] == "mute_chat" and "pass ids as strings" in invalid["detail"]


def test_bad_filters_and_a_missing_log(log: Path, tmp_path: Path) -> None:
    bad = audit(log, "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr
    assert audit(log, "--outcome", "exploded").returncode == 2
    missing = audit(tmp_path / "none.jsonl")
    assert missing.returncode == 0 and "no audit log" in missing.stderr
    off = audit(log, CLIQ_AUDIT_LOG="off")
    assert off.returncode == 2 and "off" in off.stderr


def test_lines_of_the_same_millisecond_are_newest_first_too(tmp_path: Path) -> None:
    # Two writes audited within one millisecond: the later line in the file is the newer one.
    same = "2026-11-26T10:00:00.123+00:00"
    lines = [{"time": same, "tool": tool, "arguments": {"chat_id": Q2}, "outcome": "acted"}
             for tool in ("rename_chat", "mute_chat")]  # fmt: skip
    log = tmp_path / "audit.jsonl"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [e["tool"] for e in entries(audit(log, "--json"))] == ["mute_chat", "rename_chat"]


def test_at_80_columns_no_chat_id_or_outcome_is_split(log: Path) -> None:
    shown = audit(log, COLUMNS="80")
    assert shown.returncode == 0, shown.stderr
    for chat_id in (Q2, ALICE, CLOSED):
        assert chat_id in shown.stdout  # whole, on one line
    for outcome in ("acted", "declined", "invalid", "dry_run"):
        assert outcome in shown.stdout  # whole too: the column that matters most


async def test_sandbox_acts_are_marked_and_the_sandbox_keeps_its_own_budget(tmp_path: Path) -> None:
    """The sandbox writes to the same audit log as the account (so its acts are marked), but counts its requests
    and used yeses in its own memory: its Cliq is its own, and another sandbox's walk does not hold it back."""
    log_path = tmp_path / "audit.jsonl"
    env = {"CLIQ_AUDIT_LOG": str(log_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    settings = Settings.from_env(env, sandbox=True)
    from cliq_mcp.serve.server import build_server

    async with Client(build_server(settings)) as first:
        walked = await first.call_tool("list_chats", {"unread": True})  # reads many chats alone, as Cliq allows
    async with Client(build_server(settings), elicitation_callback=answering("accept", {"confirm": True})) as other:
        read = await other.call_tool("get_chat", {"chat_id": Q2})
        closed = await other.call_tool("close_chat", {"chat_id": Q2})
    assert walked.is_error is False and read.is_error is False, read.content
    assert closed.is_error is False, closed.content
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert lines and all(line["sandbox"] is True for line in lines)
    shown = audit(log_path)
    assert "close_chat (sandbox)" in shown.stdout, shown.stdout
