"""Re-attack of the guard after the close_chats / email / clear-all merges (security review).

Each test here is a hole found: it fails now and passes once fixed.

- clear_unread_counts with all=true writes to every chat with unread messages, but its audit line says neither
  all=true nor which chats were written (``all``, ``type``, ``name`` are excluded from the dump the audit uses).
- A write whose email could not be resolved for a reason other than bad input (Cliq throttled the Users API)
  leaves no audit line at all.
- close_chats with one chat id repeated asks "Close 3 chats?" and sends three requests to one chat.
- 2026-07-28 form elicitation of close_chats: only the dialog's first 10 lines are bound to the answer, and the
  re-check compares with the second round's own read, so a chat in the tail that the question said would be
  skipped (already closed) is closed when it reopens between the rounds (and another tail chat closes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import ALICE, Q2, Cliq, answering, audit_lines, guarded, text, writes
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult
from simulated_cliq import Fault, Workspace

from cliq_mcp.sandbox.state import ME

# --- The audit log: every write attempt, and what it wrote ----------------------------------------------------------


async def test_clear_unread_counts_all_is_audited_with_what_it_wrote(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto") as client:
        result = await client.call_tool("clear_unread_counts", {"all": True})
    assert result.is_error is False, text(result)
    cleared = {c for w in writes(workspace) for c in json.loads(w.body)["chat_ids"]}
    assert len(cleared) > 10
    (line,) = audit_lines(tmp_path)
    # Today: {"arguments": {"chat_ids": null}, "chats": [], "outcome": "acted"}: a write to every unread chat
    # that the audit log cannot tell from a call that wrote nothing.
    said = json.dumps(line)
    assert line["arguments"].get("all") is True or cleared <= set(line["chats"]), f"audit line hides the walk: {said}"


async def test_a_write_whose_email_could_not_be_resolved_is_audited(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    workspace.inject(
        Fault(method="GET", path_prefix="/api/v2/users", kind="status", status=429, headers={"Retry-After": "600"})
    )
    callback = answering("accept", {"confirm": True})
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto", elicitation_callback=callback) as client:
        result = await client.call_tool(
            "remove_chat_members", {"chat_id": Q2, "user_ids": ["alice.johnson@zylker.com"]}
        )
    assert result.is_error is True
    assert writes(workspace) == []
    # An invalid email is audited ("invalid"); a throttled resolution of the same write attempt leaves no line.
    assert [line["tool"] for line in audit_lines(tmp_path)] == ["remove_chat_members"], "write attempt not audited"


# --- close_chats: the question and what acts ----------------------------------------------------------------------


async def test_close_chats_with_a_repeated_id_is_asked_and_sent_once(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="legacy", elicitation_callback=callback) as client:
        await client.call_tool("close_chats", {"chat_ids": [ALICE, ALICE, ALICE]})
    # Today: "Close 3 chats?" listing one chat three times, then three PUTs to it.
    assert "Close 1 chat?" in seen[0].message, seen[0].message
    assert len(writes(workspace)) == 1


async def test_2026_close_chats_does_not_close_a_tail_chat_the_question_said_it_would_skip(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    mine = [c for c in workspace.chats.values() if ME in c.members and not c.closed and c.chat_type == "group_chat"]
    assert len(mine) >= 12
    ids = [c.chat_id for c in mine[:12]]
    stays_open, later_closed, reopened = ids[:10], ids[10], ids[11]
    workspace.chats[reopened].closed = True  # asked: close 11, skip this one ("already closed")
    shown: list[str] = []

    async def person(context: Any, params: ElicitRequestParams) -> ElicitResult:
        shown.append(params.message)
        # While the person reads the dialog, two chats beyond its first 10 lines swap states.
        workspace.chats[later_closed].closed = True
        workspace.chats[reopened].closed = False
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto", elicitation_callback=person) as client:
        result = await client.call_tool("close_chats", {"chat_ids": [*stays_open, later_closed, reopened]})
    (line,) = audit_lines(tmp_path)[-1:]
    closed_now = [w.path.rsplit("/", 1)[-1] for w in writes(workspace)]
    # The list changed beyond the dialog's first ten lines: the dialog's text (bound to the whole list by its
    # digest) changed too, so the person was asked again about the chats as they now are.
    assert len(shown) == 2 and shown[0] != shown[1]
    # What acted is what the last question, the one answered, listed for closing: nothing it said it would skip.
    to_close = [row for row in line["target"].splitlines() if row.startswith("- ")]
    assert all(any(chat_id in row for row in to_close) for chat_id in closed_now), (text(result), line["target"])
    assert later_closed not in closed_now
