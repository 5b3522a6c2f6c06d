"""Housekeeping through a real client in both eras: plan_tidy walks every chat with the largest pages and
reports progress; a cancelled walk stops; close_chats asks once with every target listed; prompts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
from conftest import ALICE, Q2, Cliq, answering, api_calls, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

BOB = "2890538000000067890"


async def test_plan_walks_every_chat_with_progress(client: Client, workspace: Workspace) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    result = await client.call_tool("plan_tidy", {"inactive_days": 3650}, progress_callback=on_progress)
    assert result.is_error is False, result.content
    pages = [r for r in api_calls(workspace) if r.path == "/api/v3/chats"]
    total = len(workspace.my_chats())
    assert len(pages) == -(-total // 100) and all(dict(r.query)["limit"] == "100" for r in pages)  # fewest pages
    assert [p for p, _ in seen] == [min(100 * page, total) for page in range(1, len(pages) + 1)]  # in chats
    assert seen[-1][1] and f"{total} chats scanned" in seen[-1][1]
    assert result.structured_content == {"scanned": total, "checked": total, "listed": total, "actions": [],
                                         "complete": True}  # fmt: skip


async def test_plan_proposes_closing_inactive_chats_and_stops_at_max(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 5})
    cutoff = datetime.now(timezone.utc) - timedelta(days=365)
    stale = {
        c.chat_id for c in workspace.my_chats() if datetime.fromtimestamp(c.modified_ms / 1000, timezone.utc) < cutoff
    }
    planned = result.structured_content["actions"]
    assert len(planned) == 5 and {a["chat_id"] for a in planned} <= stale
    by_plan = {"plan": result.structured_content["plan"]}
    assert all(a["tool"] == "close_chats" and a["arguments"] == by_plan for a in planned)
    assert f'close_chats with plan="{result.structured_content["plan"]}"' in result.content[0].text
    assert len([r for r in api_calls(workspace) if r.path == "/api/v3/chats"]) == 1  # enough found on page 1
    assert writes(workspace) == []


async def test_plan_proposes_marking_stale_unread_chats_read(client: Client, workspace: Workspace) -> None:
    workspace.chats[ALICE].unread = 2  # the list leaves Alice's count out (Zoho's list example): read alone
    result = await client.call_tool("plan_tidy", {"unread_days": 30, "chat_type": "direct_message"})
    actions = {a["chat_id"]: a for a in result.structured_content["actions"]}
    assert actions[ALICE]["tool"] == "clear_unread_counts" and "2 unread" in actions[ALICE]["reason"]
    assert actions[ALICE]["arguments"] == {"plan": result.structured_content["plan"]}  # acted on by the plan
    assert f'clear_unread_counts with plan="{result.structured_content["plan"]}"' in result.content[0].text
    assert {dict(r.query).get("type") for r in api_calls(workspace) if r.path == "/api/v3/chats"} == {"dm"}
    assert f"/api/v3/chats/{ALICE}" in {r.path for r in api_calls(workspace)}


async def test_plan_needs_a_criterion(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("plan_tidy", {"name": "x"})
    assert result.is_error is True and "at least one of" in result.content[0].text
    assert api_calls(workspace) == []


async def test_a_cancelled_walk_stops_requesting_pages(client: Client, workspace: Workspace) -> None:
    # Held until the client goes away. inactive_days=3650 proposes nothing, so the walk needs every page.
    stall = workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="stall"))
    with anyio.move_on_after(0.1):
        await client.call_tool("plan_tidy", {"inactive_days": 3650})
    with anyio.fail_after(10):  # a safety net only: the cancel reaches the request at once
        while stall.abandoned == 0:
            await anyio.sleep(0.01)
    result = await client.call_tool("get_chat", {"chat_id": Q2})  # the session still works
    assert result.is_error is False
    # The first page was asked for and abandoned; after the cancel, no other page, only the get_chat.
    assert [r.path for r in api_calls(workspace)] == ["/api/v3/chats", f"/api/v3/chats/{Q2}"]
    assert stall.taken == 1


async def test_close_chats_asks_once_listing_every_chat(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    chat_ids = [Q2, ALICE, BOB]
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chats", {"chat_ids": chat_ids})
    assert result.is_error is False, result.content
    assert len(seen) == 1
    question = seen[0].message
    # One line per chat: name, type, id, last active, unread (as Cliq's list told it) and flags, so a person can
    # read the list and see what they would stop seeing.
    assert question.splitlines() == [
        "Close 3 chats? They will be hidden from your recent chats.",
        f'- "Q2 Product Review - Design, Engineering & QA" · group chat · {Q2} · last active 2025-06-15 · 3 unread',
        f'- "Alice Johnson" · direct message · {ALICE} · last active 2025-04-10 · unread unknown',
        f'- "Bob Carter" · direct message · {BOB} · last active 2025-04-09 · unread unknown · pinned',
    ]
    assert [(w.method, w.path, w.json) for w in writes(workspace)] == [
        ("PUT", f"/api/v3/chats/{c}", {"operation": "close_chat"}) for c in chat_ids
    ]
    assert result.structured_content == {"items": [{"chat_id": c, "outcome": "done"} for c in chat_ids],
                                         "complete": True}  # fmt: skip


async def test_close_chats_reports_each_failure_and_goes_on(
    cliq: Cliq, settings: Settings, workspace: Workspace
) -> None:
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ALICE}", kind="status", status=400,
                           body={"code": "chat_operation_failed", "message": "Cannot close"}))  # fmt: skip
    async with Client(cliq.server(settings), elicitation_callback=answering("accept", {"confirm": True})) as client:
        result = await client.call_tool("close_chats", {"chat_ids": [ALICE, BOB]})
    items = result.structured_content["items"]
    assert [(i["chat_id"], i["outcome"]) for i in items] == [(ALICE, "failed"), (BOB, "done")]
    assert "chat_operation_failed" in items[0]["reason"] and "chat_operation_failed" in result.content[0].text
    assert len(writes(workspace)) == 2


async def test_close_chats_declined_changes_nothing(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("decline")) as client:
        result = await client.call_tool("close_chats", {"chat_ids": [Q2, ALICE]})
    assert result.is_error is True and writes(workspace) == []


async def test_prompts_point_at_the_guarded_tools(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"tidy_my_chats", "catch_up_on_unread"}
    tidy = await client.get_prompt("tidy_my_chats", {"inactive_days": "30"})
    text: Any = tidy.messages[0].content
    assert "plan_tidy with inactive_days=30" in text.text and "close_chats" in text.text
