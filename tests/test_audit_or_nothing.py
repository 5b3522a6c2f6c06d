"""Audit or nothing: before a destructive request leaves (and every act of a housekeeping run), its line is in
the audit log, written whole in one append and on disk; if it cannot be written, nothing is sent. The line
saying how the act ended follows, with the same act id. Lines and messages are redacted whole before anything
is cut, so not even a secret's first characters reach the log or a result."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ALICE, Q2, Cliq, answering, audit_lines, env_for, guarded, text, writes
from mcp import Client
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings


async def test_an_unattended_close_is_not_sent_once_its_line_cannot_be_written(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    settings = guarded(cliq, tmp_path, CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=f"{Q2},{ALICE}")
    log = tmp_path / "audit.jsonl"
    async with Client(cliq.server(settings), mode=era) as client:
        first = await client.call_tool("close_chat", {"chat_id": Q2})
        assert first.is_error is False, text(first)
        log.unlink()
        log.mkdir()  # the log cannot be appended to any more (a full disk, a file made unwritable: the same)
        second = await client.call_tool("close_chat", {"chat_id": ALICE})
    assert second.is_error is True and "cannot be written" in text(second) and "Nothing was sent" in text(second)
    assert [w.path for w in writes(workspace)] == [f"/api/v3/chats/{Q2}"]  # the second close never left


async def test_nobody_is_asked_when_the_yes_could_not_be_put_on_record(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    (tmp_path / "audit.jsonl").mkdir()
    asked: list[object] = []
    settings = guarded(cliq, tmp_path)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True},
                                                                                       asked)) as client:  # fmt: skip
        result = await client.call_tool("close_chats", {"chat_ids": [Q2, ALICE]})
    assert result.is_error is True and "cannot be written" in text(result)
    assert asked == [] and writes(workspace) == []


async def test_with_the_audit_log_off_destructive_acts_are_refused_and_other_writes_go_on(
    cliq: Cliq, workspace: Workspace, era: str
) -> None:
    settings = cliq.settings(CLIQ_AUDIT_LOG="off", CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=Q2)
    async with Client(cliq.server(settings), mode=era) as client:
        closed = await client.call_tool("close_chat", {"chat_id": Q2})
        renamed = await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Kept"})
    assert closed.is_error is True and "CLIQ_AUDIT_LOG=off" in text(closed)
    assert renamed.is_error is False and [w.json for w in writes(workspace)] == [
        {"operation": "update_title", "title": "Kept"}
    ]


async def test_each_act_is_on_record_before_it_is_sent_and_then_how_it_ended(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    seen_when_sent: list[list[str]] = []

    def look() -> None:  # what the audit log held when the close reached Cliq
        seen_when_sent.append([line["outcome"] for line in audit_lines(tmp_path)])

    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{Q2}", kind="hook", then=look))
    settings = guarded(cliq, tmp_path, CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=Q2)
    async with Client(cliq.server(settings)) as client:
        await client.call_tool("close_chat", {"chat_id": Q2})
    assert seen_when_sent == [["sending"]]
    sending, acted = audit_lines(tmp_path)
    assert (sending["outcome"], acted["outcome"]) == ("sending", "acted") and sending["act"] == acted["act"]
    raw = (tmp_path / "audit.jsonl").read_bytes()
    assert raw.count(b"\n") == 2 and all(json.loads(line) for line in raw.splitlines())


async def test_a_secret_zoho_echoes_is_redacted_before_it_is_cut(workspace: Workspace, tmp_path: Path) -> None:
    import httpx
    from simulated_cliq import FakeTime, observed

    cliq = Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), FakeTime())
    # Zoho's refusal echoes what it was sent, the client secret just where an 80-character cut would halve it.
    echoed = {"error": "x" * 70 + " sandbox-secret was not accepted for this client"}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=echoed))
    env = env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"), XDG_STATE_HOME=str(tmp_path),
                  CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=Q2)  # fmt: skip
    del env["CLIQ_ACCESS_TOKEN"]
    settings = Settings.from_env({**env, "CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
                                  "CLIQ_REFRESH_TOKEN": "sandbox-refresh"})  # fmt: skip
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    shown = text(result) + (tmp_path / "audit.jsonl").read_text()
    assert result.is_error is True and "[redact" in shown  # redacted, then cut
    assert "sandbox-s" not in shown  # not the secret, not its first characters
