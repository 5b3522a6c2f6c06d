"""Tasks that finish (issue #12), asserted against the simulated workspace's truth: plan_tidy finds every
stale and every unread chat across as many calls as its cursor needs; marking every chat read costs two
requests per 100 chats; search says when its limit cut it short; batches report each chat's outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import httpx
import pytest
from conftest import ALICE, Q2, Cliq, answering, api_calls, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import FakeTime, Fault, Workspace, observed

from cliq_mcp.sandbox.render import last_message_info, listed

BOB = "2890538000000067890"
MISSING = "2890538000000000001"


def cliq_for(workspace: Workspace, fake_time: FakeTime) -> Cliq:
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time)


def truth(workspace: Workspace, inactive_days: int, unread_days: int) -> tuple[set[str], set[str], set[str]]:
    """What plan_tidy should propose: (close, mark read, pinned chats left out of closing)."""
    now = datetime.now(timezone.utc)
    close, read, pinned = set(), set(), set()
    for chat in workspace.my_chats():
        age = now - datetime.fromtimestamp(chat.modified_ms / 1000, timezone.utc)
        if age > timedelta(days=inactive_days):
            if not chat.pinned:
                close.add(chat.chat_id)
                continue
            pinned.add(chat.chat_id)
        if chat.unread > 0 and age > timedelta(days=unread_days):
            read.add(chat.chat_id)
    return close, read, pinned


@pytest.mark.parametrize("lists", ["full", "document"])
async def test_plan_tidy_finds_every_stale_and_unread_chat_across_its_calls(
    fake_time: FakeTime, era: str, lists: Literal["full", "document"]
) -> None:
    # The sandbox's throttle runs on the server's clock too, so waiting as told is instant and honest.
    workspace = Workspace(clock=fake_time, lists=lists)
    old_pinned = workspace.my_chats()[-1]
    old_pinned.pinned = True
    cliq = cliq_for(workspace, fake_time)
    # About half the chats are older than this: both kinds of proposal, more than one answer's worth.
    median = sorted(c.modified_ms for c in workspace.my_chats())[len(workspace.my_chats()) // 2]
    inactive_days = (datetime.now(timezone.utc) - datetime.fromtimestamp(median / 1000, timezone.utc)).days
    criteria = {"inactive_days": inactive_days, "unread_days": 1, "max_chats": 50}  # more than one answer holds
    close, read, pinned = truth(workspace, inactive_days, 1)
    assert len(close) > 50 and len(read) > 10 and old_pinned.chat_id in pinned  # more than one answer holds
    proposed: list[dict[str, Any]] = []
    answers: list[Any] = []
    async with Client(cliq.server(cliq.settings()), mode=era) as client:
        arguments: dict[str, Any] = dict(criteria)
        for _ in range(20):
            result = await client.call_tool("plan_tidy", arguments)
            assert result.is_error is False, result.content[0].text
            data, text = result.structured_content, result.content[0].text
            answers.append(data)
            proposed += data["actions"]
            if data["complete"]:
                assert text.startswith(f"Checked all {len(workspace.my_chats())} chats (complete)")
                break
            # Never a silent partial plan: it says so, why, and how to go on.
            assert "NOT complete" in text and data["why"] and data["next_token"] in text
            assert data["continue_with"] == {**criteria, "next_token": data["next_token"]}  # the whole next call
            assert data["checked"] < data["listed"] or data["why"].startswith("proposal limit")
            fake_time.advance(data.get("retry_after_s") or 0)
            arguments = {**criteria, **data["continue_with"]}
    assert data["complete"] is True and data["checked"] == data["listed"] == len(workspace.my_chats())
    # One plan across the calls, holding every proposal: the handle close_chats and clear_unread_counts take.
    assert {a["plan"] for a in answers} == {data["plan"]}
    assert data["proposed"] == {"close_chats": len(close), "clear_unread_counts": len(read)}
    ids = [a["chat_id"] for a in proposed]
    assert len(ids) == len(set(ids))  # nothing proposed twice across the calls
    assert {a["chat_id"] for a in proposed if a["tool"] == "close_chats"} == close
    assert {a["chat_id"] for a in proposed if a["tool"] == "clear_unread_counts"} == read
    assert sum(a.get("pinned_skipped", 0) for a in answers) == len(pinned)
    for action in proposed:  # every proposal says why, from what Cliq said of the chat
        chat = workspace.chats[action["chat_id"]]
        assert action["last_activity"] and "muted" not in action["reason"]  # Cliq's chat object never says
        # A close proposal carries the unread count when the list gave it; none is fetched only for that.
        count_listed = listed(workspace, chat)[0]
        assert action.get("unread") == (chat.unread if count_listed or action["tool"] != "close_chats" else None)
        if action["tool"] == "clear_unread_counts":
            assert action["unread"] == chat.unread and f"{chat.unread} unread" in action["reason"]
            assert action["arguments"] == {"plan": data["plan"]}
    gets = [r for r in api_calls(workspace) if r.method == "GET" and r.path != "/api/v3/chats"]
    # get_chat only for chats the list gave no count for and that the unread criterion needs it for, each once.
    now = datetime.now(timezone.utc)
    candidates = {
        c.chat_id for c in workspace.my_chats()
        if c.chat_id not in close and not listed(workspace, c)[0]
        and now - datetime.fromtimestamp(c.modified_ms / 1000, timezone.utc) > timedelta(days=1)
    }  # fmt: skip
    assert sorted(r.path.rsplit("/", 1)[1] for r in gets) == sorted(candidates)
    if lists == "full":
        assert gets == [] and len(answers) >= 2  # counts came with the list: no get_chat at all
    else:  # get_chat's threshold made it resume
        assert any(a.get("retry_after_s") and a["why"].startswith("rate budget") for a in answers)
    assert writes(workspace) == []


async def test_mark_every_chat_read_costs_two_requests_per_100_chats(client: Client, workspace: Workspace) -> None:
    chats = workspace.my_chats()
    unread_before = {c.chat_id for c in chats if c.unread}
    assert len(chats) > 200 and len(unread_before) > 50
    told = {c.chat_id: c.unread for c in chats if listed(workspace, c)[0]}  # what Cliq's list says
    assert len(told) < len(chats)  # the document-shaped workspace leaves some counts out
    result = await client.call_tool("clear_unread_counts", {"all": True})
    assert result.is_error is False, result.content[0].text
    pages = -(-len(chats) // 100)
    lists = [r for r in api_calls(workspace) if r.method == "GET"]
    clears = writes(workspace)
    assert len(lists) == pages and all(dict(r.query)["limit"] == "100" for r in lists)
    assert len(clears) <= pages and len(lists) + len(clears) <= 2 * pages
    sent = [chat_id for w in clears for chat_id in w.json["chat_ids"]]
    assert all(w.json["operation"] == "clear_unread" for w in clears)
    # Chats the list said had unread, and those it gave no count for; never one it said had none.
    assert sorted(sent) == sorted(c.chat_id for c in chats if told.get(c.chat_id, 1))
    assert all(c.unread == 0 for c in workspace.my_chats())
    data, text = result.structured_content, result.content[0].text
    assert data["complete"] is True and "items" not in data  # counts, not ids: every chat was done
    assert data["had_unread"] == sum(1 for n in told.values() if n) < len(unread_before)
    assert data["already_read"] == sum(1 for n in told.values() if not n)
    assert data["unread_unknown"] == len(chats) - len(told) and data["cleared"] == len(sent)
    assert f"Cliq's list said {data['had_unread']} had unread messages" in text
    assert f"gave no count for {data['unread_unknown']} (sent too" in text
    assert not any(chat_id in text for chat_id in sent)


async def test_mark_read_by_filter_leaves_other_chats_unread(client: Client, workspace: Workspace) -> None:
    groups = {c.chat_id for c in workspace.my_chats() if c.unread and c.chat_type == "group_chat"}
    others = {c.chat_id for c in workspace.my_chats() if c.unread and c.chat_type != "group_chat"}
    assert groups and others
    result = await client.call_tool("clear_unread_counts", {"all": True, "chat_type": "group_chat"})
    assert result.is_error is False
    sent = {chat_id for w in writes(workspace) for chat_id in w.json["chat_ids"]}
    assert groups <= sent and all(workspace.chats[c].chat_type == "group_chat" for c in sent)
    assert all(workspace.chats[c].unread == 0 for c in groups) and all(workspace.chats[c].unread for c in others)
    # Cliq's list has no group filter: every page is listed, and this server keeps the group chats.
    assert all("type" not in dict(r.query) for r in api_calls(workspace) if r.method == "GET")


async def test_mark_every_chat_read_throttled_says_how_to_continue(client: Client, workspace: Workspace) -> None:
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=429,
                           body={"error": {"code": "rate_limit_exceeded", "message": "busy"}},
                           headers={"Retry-After": "90"}))  # fmt: skip
    result = await client.call_tool("clear_unread_counts", {"all": True})
    data, text = result.structured_content, result.content[0].text
    assert result.is_error is True or data["complete"] is False
    assert "Not complete" in text and '"all": true' in text and "after 90 s" in text
    assert len(writes(workspace)) == 1  # stopped at the throttle: nothing more was sent


async def test_search_at_its_limit_says_so_and_how_to_see_the_rest(client: Client, workspace: Workspace) -> None:
    channels = [c for c in workspace.chats.values() if c.chat_type == "channel" and workspace.is_visible(c)]
    assert len(channels) > 20
    cut = await client.call_tool("search_chats", {"chat_type": "channel"})
    data, text = cut.structured_content, cut.content[0].text
    assert len(data["chats"]) == 20 and data["complete"] is False and "search has no cursor" in data["why"]
    # The whole next call: the same search, a larger limit (it had dropped the search, and listed any chat).
    assert data["continue_with"] == {"chat_type": ["channel"], "limit": 100} and "End of list." not in text
    assert "Not complete" in text and "limit=100" in text
    whole = await client.call_tool("search_chats", data["continue_with"])
    assert whole.structured_content["complete"] is True and len(whole.structured_content["chats"]) == len(channels)
    assert whole.content[0].text.endswith("End of list.")


async def test_lists_keep_unread_counts_and_last_message_ids(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("list_chats", {"limit": 100})
    chats = result.structured_content["chats"]
    assert any(c["unread"] for c in chats) and any(c["unread"] is None for c in chats)
    for chat in chats:
        truth_chat = workspace.chats[chat["chat_id"]]
        count, last = listed(workspace, truth_chat)
        assert chat["unread"] == (truth_chat.unread if count else None)  # unknown is null, never 0
        info = last_message_info(workspace, truth_chat) if last else None
        assert chat.get("last_message_id") == (info or {}).get("message_id")
        line = next(x for x in result.content[0].text.splitlines() if x.startswith(chat["chat_id"]))
        unread = str(truth_chat.unread) if count else "?"  # the text says how many, or that Cliq did not say
        assert line.split(" ")[-1 - sum(x in line for x in (" pinned", " muted"))] == unread


async def close_with(cliq: Cliq, era: str, tool: str, arguments: dict[str, Any]) -> tuple[Any, list[str]]:
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(cliq.settings()), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool(tool, arguments)
    return result, [p.message for p in seen]


async def test_close_chats_acts_on_what_it_can_and_reports_every_other_chat(
    cliq: Cliq, workspace: Workspace, era: str
) -> None:
    workspace.chats[BOB].closed = True
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ALICE}", kind="status", status=400,
                           body={"code": "chat_operation_failed", "message": "Cannot close"}))  # fmt: skip
    result, asked = await close_with(cliq, era, "close_chats", {"chat_ids": [Q2, BOB, MISSING, ALICE]})
    assert result.is_error is False, result.content[0].text
    (question,) = asked  # asked once, about the chats that can be closed; the others named as skipped
    lines = question.splitlines()
    assert lines[0] == "Close 2 chats? They will be hidden from your recent chats."
    assert Q2 in lines[1] and ALICE in lines[2]
    assert lines[3:] == [f"Skipped, already closed: {BOB}", f"Skipped, not among your chats: {MISSING}"]
    assert [w.path for w in writes(workspace)] == [f"/api/v3/chats/{Q2}", f"/api/v3/chats/{ALICE}"]
    items = {i["chat_id"]: i for i in result.structured_content["items"]}
    assert {c: i["outcome"] for c, i in items.items()} == {
        Q2: "done", BOB: "already_closed", MISSING: "not_found", ALICE: "failed"
    }  # fmt: skip
    assert items[BOB]["reason"] == "already closed" and "chat_operation_failed" in items[ALICE]["reason"]
    text = result.content[0].text
    assert f"already closed (already closed): {BOB}" in text and f"not found (not among your chats): {MISSING}" in text
    assert workspace.chats[Q2].closed and not workspace.chats[ALICE].closed


async def test_closing_chats_that_are_already_closed_asks_nobody(cliq: Cliq, workspace: Workspace, era: str) -> None:
    workspace.chats[BOB].closed = workspace.chats[ALICE].closed = True
    batch, asked = await close_with(cliq, era, "close_chats", {"chat_ids": [BOB, ALICE]})
    assert batch.is_error is False and asked == [] and "already closed" in batch.content[0].text
    assert [i["outcome"] for i in batch.structured_content["items"]] == ["already_closed", "already_closed"]
    one, asked = await close_with(cliq, era, "close_chat", {"chat_id": BOB})
    assert one.is_error is False and asked == [] and "already closed" in one.content[0].text
    assert one.structured_content == {"chat_id": BOB, "done": "already_closed"}
    assert writes(workspace) == []


async def test_a_batch_where_nothing_can_be_closed_is_an_error(cliq: Cliq, workspace: Workspace, era: str) -> None:
    workspace.chats[BOB].closed = True
    result, asked = await close_with(cliq, era, "close_chats", {"chat_ids": [BOB, MISSING]})
    assert result.is_error is True and asked == [] and writes(workspace) == []
    text = result.content[0].text
    assert f"already closed: {BOB}" in text and f"not among your chats: {MISSING}" in text
