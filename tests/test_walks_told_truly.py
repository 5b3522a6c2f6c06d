"""Walks over the chat list (plan_tidy, clear_unread_counts all=true, list_chats unread=true, preview_policy,
cliq-mcp tidy) tell the truth when Cliq answers as Zoho's document allows: nothing in the chat object is
required, entries may lack an id or a type, cursors may repeat, one chat may refuse to be shown. Each test was
first written by an outside review as a failing test; its docstring describes the failure it guards against
and why a user would be hurt by it."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Cliq, api_calls, guarded, text, writes
from mcp import Client
from simulated_cliq import FakeTime, Fault, Workspace, observed

from cliq_mcp.cli import main as cli
from cliq_mcp.cli import tidy as tidy_command

pytestmark = pytest.mark.era_independent

OLD = "2020-01-01T00:00:00.000Z"  # long inactive
RECENT = "2099-01-01T00:00:00.000Z"  # never inactive, whatever the clock says
THROTTLED = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}


def entry(chat_id: str | None, name: str | None = None, **fields: Any) -> dict[str, Any]:
    """A list entry as the document allows it: only the fields given (none is required)."""
    data: dict[str, Any] = {} if chat_id is None else {"chat_id": chat_id}
    if name is not None:
        data["name"] = name
    return data | fields


def full(chat_id: str, name: str, chat_type: str = "group_chat", when: str = RECENT, **more: Any) -> dict[str, Any]:
    fields = {
        "chat_type": chat_type,
        "participant_count": 3,
        "last_modified_time": when,
        "pinned": False,
        "unread_message_count": 0,
    }
    return entry(chat_id, name, **(fields | more))


def list_fault(body: dict[str, Any], times: int = 1) -> Fault:
    return Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=200, body=body, times=times)


def on_fake_time(fake_time: FakeTime) -> tuple[Cliq, Workspace]:
    """The workspace's rate windows on the server's clock: waiting as told is instant and honest."""
    workspace = Workspace(clock=fake_time)
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time), workspace


def unread_groups(workspace: Workspace) -> list[Any]:
    return [c for c in workspace.my_chats() if c.chat_type == "group_chat" and c.unread > 0 and not c.pinned]


# --- (1)/(3) the group-chat filter, done here, drops chats whose type Cliq did not tell -----------------------


async def test_a_group_chat_page_shows_the_chats_whose_type_cliq_did_not_tell(
    client: Client, workspace: Workspace
) -> None:
    """list_chats chat_type=group_chat (one page, the filter applied by this server in summaries.chat_list) keeps
    only entries whose chat_type == "group_chat": a list entry without chat_type (the document requires none) is
    dropped without a word, and the page still ends "End of list." / complete: true. The walkers (walk_list) read
    such a chat alone; the one-page list does not. The user asking "which group chats do I have" is told fewer
    than there are, as if the list were whole: unknown became "not a group chat"."""
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Q2 Product Review"),
                                           entry("2890538000000066601", "Vendor Escalations",
                                                 last_modified_time=RECENT)]}))  # fmt: skip
    result = await client.call_tool("list_chats", {"chat_type": "group_chat"})
    data, said = result.structured_content, text(result)
    shown = [c["chat_id"] for c in data["chats"]]
    assert "2890538000000066601" in shown or "2890538000000066601" in said or data["complete"] is False, said
    # ... and is not counted as a group chat (a reviewer saw "27 group_chat chat(s)" over 27 lines of type ?).
    assert said.startswith("1 group_chat chat(s), and 1 whose type Cliq did not tell (type ?, shown), among the 2 ")


# --- (5)/(c) one signed cursor codec, bound to the walk's criteria -----------------------------------------------


async def test_a_clear_all_cursor_is_refused_for_other_criteria(
    client: Client, workspace: Workspace, fake_time: FakeTime
) -> None:
    """clear_unread_counts all=true binds its cursor with walks._bound(request), i.e. model_dump(): but
    ``all``, ``chat_type``, ``name`` and ``next_token`` are all Field(exclude=True), so every all=true walk has the
    same binding ({"tool", "chat_ids": None}). A cursor from a chat_type=group_chat walk is accepted by a walk of
    every chat (or of another name): tools/cursors.py's promise "brought back with other criteria, is refused" does not
    hold. Here: the group walk stops on page 2 (Cliq throttles its clear); the model continues it without
    chat_type ("clear everything"). The continued walk starts on page 2, so page 1's direct chats, channels... with
    unread messages are never cleared, yet the answer says complete with counts that mix both walks."""
    # Cliq clears page 1, then throttles page 2's clear request: the walk stops with a cursor on page 2.
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="hook", then=lambda: None))
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=429, body=THROTTLED))
    left = [c.chat_id for c in workspace.my_chats()[:100] if c.chat_type != "group_chat" and c.unread]
    assert left  # page 1 has unread chats of other types
    stopped = await client.call_tool("clear_unread_counts", {"all": True, "chat_type": "group_chat"})
    assert stopped.structured_content["complete"] is False, text(stopped)
    token = stopped.structured_content["continue_with"]["next_token"]
    fake_time.advance(700)
    reused = await client.call_tool("clear_unread_counts", {"all": True, "next_token": token})
    still = [c for c in left if workspace.chats[c].unread]
    assert reused.is_error is True and "Invalid next_token" in text(reused), (
        f"a group-chat walk's cursor was accepted for a walk of every chat; {len(still)} unread chats of page 1 "
        f"were never cleared; it answered: " + text(reused)[:400]
    )


async def test_an_unread_view_cursor_is_refused_for_other_criteria(
    client: Client, workspace: Workspace, fake_time: FakeTime
) -> None:
    """list_chats unread=true binds its cursor to ListChats.model_dump(), whose wrap serializer (_as_documented)
    turns chat_type into Cliq's ``type`` -- and drops group_chat, which Cliq's list cannot filter. So the binding
    of chat_type=group_chat equals that of no chat_type: a cursor from "my unread group chats" is accepted by "all
    my unread chats". Continued that way, the walk skips every chat before the cursor's page (and the non-group
    chats of its page, already marked seen), yet ends complete: true -- the assistant tells the user "these are
    all your unread chats" with direct chats and channels left out."""
    mine = workspace.my_chats()
    second_page_group = next(c for c in mine[100:200] if c.chat_type == "group_chat")
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{second_page_group.chat_id}", kind="status",
                           status=429, body=THROTTLED, times=50))  # fmt: skip
    for c in mine:  # every count read from the list, except the one throttled chat's, which is read alone
        c.list_shows = (c.chat_id != second_page_group.chat_id, True)
    first = await client.call_tool("list_chats", {"unread": True, "chat_type": "group_chat"})
    assert first.structured_content["complete"] is False, text(first)
    token = first.structured_content["continue_with"]["next_token"]
    workspace.faults[0].times = workspace.faults[0].taken  # the chat can be read again
    fake_time.advance(700)
    reused = await client.call_tool("list_chats", {"unread": True, "next_token": token})
    assert reused.is_error is True and "Invalid next_token" in text(reused), (
        "a group-chat walk's cursor was accepted by an unfiltered walk: " + text(reused)[:600]
    )


# --- (c) clear_unread_counts all=true: a walk cut mid-page marks chats done that were never cleared ----------------


async def test_clearing_all_cut_mid_page_clears_that_page_whole_when_continued(
    client: Client, workspace: Workspace, fake_time: FakeTime
) -> None:
    """walks.clear_unread collects a page's chats in ``each`` and clears them in ``page_end``. When
    walk_list returns early in the middle of a page (the time budget, or a throttle while reading a chat alone
    -- here: a group chat whose entry lacks chat_type, read alone, throttled), page_end is never called, but the
    chats already handed to ``each`` are in the cursor's ``seen``: the continued call skips them. They are never
    sent a clear request and never counted, and the walk ends complete: true. The user is told all their group
    chats were marked read; the first one still shows unread messages."""
    g1, g2 = unread_groups(workspace)[:2]
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{g2.chat_id}", kind="status", status=429,
                           body=THROTTLED))  # fmt: skip
    page = {"chats": [full(g1.chat_id, g1.name, unread_message_count=g1.unread),
                      entry(g2.chat_id, g2.name, last_modified_time=RECENT)]}  # fmt: skip
    workspace.inject(list_fault(page, times=2))
    first = await client.call_tool("clear_unread_counts", {"all": True, "chat_type": "group_chat"})
    assert first.is_error is False and first.structured_content["complete"] is False, text(first)
    fake_time.advance(700)
    again = await client.call_tool(
        "clear_unread_counts", {"all": True, "chat_type": "group_chat", **first.structured_content["continue_with"]}
    )
    assert again.is_error is False, text(again)
    assert again.structured_content["complete"] is True
    cleared = [c for r in writes(workspace) for c in (r.json or {}).get("chat_ids", [])]
    assert g1.chat_id in cleared, (
        f"{g1.chat_id} was never sent a clear request, yet the walk says complete: {text(again)}"
    )


# --- (4) an entry without chat_id, seen by an earlier call of the walk, is forgotten by the last ----------------


async def test_an_entry_without_a_chat_id_keeps_a_continued_plan_not_complete(
    client: Client, workspace: Workspace, fake_time: FakeTime
) -> None:
    """walk_list counts entries without a chat id per call (WalkEnd.unreadable: "in this call"), and the cursor
    (Walk) does not carry them. A walk whose first call saw such an entry on page 1 and stopped on page 2 (a
    throttle, the time budget, max_chats) is continued by a call that never sees page 1 again: its answer says
    "Checked all N chats (complete)" / complete: true. The one chat Cliq would not name was never judged, and the
    last answer -- the one the assistant reports from -- says nothing of it. Same in clear_unread_counts all=true,
    list_chats unread=true (same walk_list) and preview_policy (housekeeping.Walked.unreadable)."""
    workspace.inject(list_fault({"chats": [entry(None, "Mystery", chat_type="group_chat"),
                                           full("2890538000000099999", "Q2")], "next_token": "p2"}))  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=429, body=THROTTLED))
    workspace.inject(list_fault({"chats": [full("2890538000000066601", "Vendor Escalations")]}))
    first = await client.call_tool("plan_tidy", {"inactive_days": 30})
    assert first.structured_content["complete"] is False, text(first)
    fake_time.advance(700)
    last = await client.call_tool("plan_tidy", {"inactive_days": 30, **first.structured_content["continue_with"]})
    data = last.structured_content
    assert data["complete"] is False or "without a chat id" in text(last), (
        "the walk skipped an entry without a chat id, yet its last answer says: " + text(last)
    )


# --- (4) `cliq-mcp tidy` reports complete over an entry it could not judge -----------------------------------------


def run_tidy(cliq: Cliq, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str) -> tuple[int, Any]:
    path = tmp_path / "nightly.toml"
    path.write_text(policy)
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--json"])
    settings = guarded(cliq, tmp_path)
    clock = cliq.time
    code = tidy_command.main(parsed, settings, cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock)
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None


def test_a_tidy_run_over_an_entry_without_a_chat_id_is_not_complete(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tidy._plan sets ``report.complete = True`` whenever ``walked.cursor is None``, ignoring
    ``walked.unreadable`` (which preview_policy does honour). A list page holding an entry without a chat id gives
    a report "complete": true, status "done", exit 0, and no word of the entry: the unattended run's log says
    every chat was judged when one was not (and with --apply it acts on that "complete" plan)."""
    workspace.inject(list_fault({"chats": [entry(None, "Mystery", chat_type="group_chat", last_modified_time=OLD),
                                           full("2890538000000099999", "Q2", when=OLD)]}))  # fmt: skip
    code, report = run_tidy(cliq, tmp_path, capsys, "[close]\ninactive_days = 365\n")
    assert report is not None
    assert report["complete"] is False or "chat id" in json.dumps(report), (code, report)


# --- (2) a policy's muted exclusion passes silently when Cliq's muted list has an entry without chat_id -----------


async def test_a_muted_list_that_cannot_name_every_chat_keeps_chats_out(client: Client, workspace: Workspace) -> None:
    """housekeeping.plan learns the mute state from GET /chats?muted=true (walks.muted_chats) and then sets
    ``muted = chat_id in muted`` for every chat: *False* for each chat not named there. muted_chats drops the
    muted list's entries without a chat id (ChatList.unreadable) without a word, so when Cliq's muted list holds
    one, some muted chat is unknown -- yet every chat is judged "not muted" and [exclude] muted = true silently
    passes: preview_policy plans (and `cliq-mcp tidy --apply` would close) a chat the policy says never to touch.
    Unknown should mean "Cliq did not say whether it is muted" (left alone), as _excluded already does for None."""
    workspace.inject(list_fault({"chats": [entry(None, "Board (muted)")]}))  # the muted list: no chat id
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Board (muted)", when=OLD)]}))
    policy = "[exclude]\nmuted = true\n[close]\ninactive_days = 365\n"
    result = await client.call_tool("preview_policy", {"policy": policy})
    planned = [c["chat_id"] for c in result.structured_content["chats"] if c.get("tool")]
    assert "2890538000000099999" not in planned, "a chat whose mute state Cliq did not tell is planned: " + text(result)


# --- (5) the housekeeping walker continues into the loop a repeated cursor makes ------------------------------------


async def test_a_repeated_cursor_ends_a_preview_with_nothing_to_continue(client: Client, workspace: Workspace) -> None:
    """walk_list ends a walk at a repeated cursor with no continuation (following it would loop).
    housekeeping.plan instead returns stop("failed") with a Cursor on the current page, so preview_policy offers
    continue_with; following it (as its text says to) walks the loop A->B->A again from page B, and judges page
    A's chats a second time: the same chat is planned twice across answers and the run's act counts grow past
    what a run would do. A repeated cursor must end the walk, incomplete, in every walker (issue 20)."""
    a, b, c = (full(i, n, when=OLD) for i, n in (("2890538000000099999", "A"), ("2890538000000066601", "B"),
                                                  ("2890538000000066602", "C")))  # fmt: skip
    pages = [{"chats": [a], "next_token": "ta"}, {"chats": [b], "next_token": "tb"},
             {"chats": [c], "next_token": "ta"}, {"chats": [c], "next_token": "ta"},
             {"chats": [b], "next_token": "tb"}]  # fmt: skip
    for page in pages:
        workspace.inject(list_fault(page))
    policy = "[close]\ninactive_days = 365\n"
    first = await client.call_tool("preview_policy", {"policy": policy})
    data = first.structured_content
    assert data["complete"] is False and "repeated" in (data["why"] or ""), text(first)
    planned = [c["chat_id"] for c in data["chats"] if c.get("tool")]
    if data.get("continue_with"):
        again = await client.call_tool("preview_policy", {"policy": policy, **data["continue_with"]})
        planned += [c["chat_id"] for c in again.structured_content["chats"] if c.get("tool")]
    else:
        for fault in workspace.faults[3:]:
            fault.times = fault.taken = 1  # not needed: nothing to follow
    assert len(planned) == len(set(planned)), f"planned twice across the walk's answers: {planned}"


# --- (2) a destructive proposal resting on an absent field: "no messages" beside "5 unread" ------------------------


async def test_empty_never_says_no_messages_of_a_chat_with_unread_messages(
    client: Client, workspace: Workspace
) -> None:
    """_judge(empty=true): a group chat whose list entry has no last_message_info is read alone
    (?include=last_message_info), and if that answer has none either, it is proposed for closing as "no
    messages". The document requires nothing in the chat object, so the get answer leaving out
    last_message_info is the same "not told" -- and here the same answer says unread_message_count: 5, which
    proves the chat has messages. The proposal reads "no messages; 5 unread": a close resting on an absent field,
    contradicted by a present one. At least a told unread count > 0 (or last_modified_time well after
    created_time) must veto "no messages"; otherwise say "not judged"."""
    chat_id = "2890538000000066601"
    told = full(chat_id, "Vendor Escalations", participant_count=4, unread_message_count=5)
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=200,
                           body={"type": "chat", "data": told}))  # fmt: skip
    listed_entry = {k: v for k, v in told.items() if k != "unread_message_count"}
    workspace.inject(list_fault({"chats": [listed_entry]}))
    result = await client.call_tool("plan_tidy", {"empty": True})
    actions = result.structured_content["actions"]
    assert not [a for a in actions if a["chat_id"] == chat_id and "no messages" in a["reason"]], text(result)


# --- (1) a close proposal for a chat whose unread count is unknown reads as "nothing unread" -------------------------


async def test_a_close_proposal_says_its_unread_count_is_unknown(client: Client, workspace: Workspace) -> None:
    """plan_tidy flags a close proposal "; 3 unread" when Cliq told the count (a person should know they are
    about to hide unread messages), but when the list entry left the count out the proposal says nothing, and
    outputs.Action drops ``unread`` from the structured content (Action has no unknown_is_null): text and
    structure read exactly like "nothing unread". Issue 20's promise (1): unknown is shown as ? / null, never as
    the absence that means zero."""
    stale = {k: v for k, v in full("2890538000000066601", "Vendor Escalations", when=OLD).items()
             if k != "unread_message_count"}  # fmt: skip
    workspace.inject(list_fault({"chats": [stale]}))
    result = await client.call_tool("plan_tidy", {"inactive_days": 30})
    (action,) = result.structured_content["actions"]
    line = next(x for x in text(result).splitlines() if "2890538000000066601" in x)
    assert "unread" in action and action["unread"] is None and "?" in line, (action, line)


# --- (c) clear_unread_counts all=true: chats cleared, then the tool answers only an error ----------------------------


async def test_clearing_all_that_fails_midway_still_says_what_it_cleared(client: Client, workspace: Workspace) -> None:
    """walk_list catches only Throttled: any other failure of a later list page (Cliq's 5xx after retries, a 400
    for a next_token it no longer accepts, a WrongShape) propagates out of clear_unread, and the tool answers
    with just that error -- after page 1's chats were already cleared. The user is told "it failed" and nothing
    of the chats marked read; the counts, problems and a cursor to continue are lost. (plan_tidy and list_chats
    unread=true lose their partial answers the same way.) A walk should end, not complete, with what it did."""
    g1 = unread_groups(workspace)[0]
    workspace.inject(list_fault({"chats": [full(g1.chat_id, g1.name, unread_message_count=g1.unread)],
                                 "next_token": "p2"}))  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=500,
                           body={"code": "operation_failed", "message": "Internal error"}, times=3))  # fmt: skip
    result = await client.call_tool("clear_unread_counts", {"all": True})
    assert workspace.chats[g1.chat_id].unread == 0  # it was cleared
    assert result.is_error is False or "cleared" in text(result).lower(), text(result)


# --- (c) "a chat listed twice is judged once" holds only within a page the call did not resume -------------------


async def test_a_chat_met_again_after_a_resumed_call_is_proposed_once(client: Client, workspace: Workspace) -> None:
    """walk_list skips a chat done by the call it continues (its short hash in Walk.seen) with ``continue`` before
    ``done_ids.add``: the resumed call does not remember it, so when Cliq lists the same chat again on the next
    page (a chat that moved up while being walked, or a duplicate) it is judged and proposed again. Here
    max_chats=1 makes each call stop after one proposal; following continue_with, X is proposed in call 1 and
    again in call 3. The model collects the proposals (as the tidy prompt says) and shows X twice."""
    x = full("2890538000000066601", "X", when=OLD)
    y = full("2890538000000066602", "Y", when=OLD)
    z = full("2890538000000099999", "Z", when=OLD)
    page1 = {"chats": [x, y], "next_token": "p2"}
    page2 = {"chats": [x, z]}
    for page in (page1, page1, page2, page2):
        workspace.inject(list_fault(page))
    proposed: list[str] = []
    arguments: dict[str, Any] = {"inactive_days": 30, "max_chats": 1}
    for _ in range(3):
        result = await client.call_tool("plan_tidy", arguments)
        proposed += [a["chat_id"] for a in result.structured_content["actions"]]
        if result.structured_content["complete"]:
            break
        arguments = {"inactive_days": 30, "max_chats": 1, **result.structured_content["continue_with"]}
    assert len(proposed) == len(set(proposed)), f"proposed twice across the walk: {proposed}"


# --- (2) one chat Cliq will not show alone sinks the whole plan ------------------------------------------------------


async def test_a_chat_cliq_will_not_show_alone_is_not_judged_and_the_plan_goes_on(
    client: Client, workspace: Workspace
) -> None:
    """plan_tidy reads a chat alone when its entry lacks a field (here participant_count, for empty=true). If Cliq
    refuses that one read (403 chat_access_denied: documented), ApiError propagates through walk_list (which
    catches only Throttled, NotFound, InvalidArguments) and the tool answers only an error: every other proposal
    of the walk is lost. housekeeping.judge leaves such a chat alone ("Cliq would not show it alone") and goes on;
    plan_tidy should list it as not judged, as issue 20 promises."""
    bad = "2890538000000066601"
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{bad}", kind="status", status=403,
                           body={"code": "chat_access_denied", "message": "You cannot access this chat."}))  # fmt: skip
    lacking = {k: v for k, v in full(bad, "Vendor Escalations").items() if k != "participant_count"}
    lonely = full("2890538000000099999", "Just me", participant_count=1)
    workspace.inject(list_fault({"chats": [lacking, lonely]}))
    result = await client.call_tool("plan_tidy", {"empty": True})
    assert result.is_error is False, text(result)
    assert any(bad in u for u in result.structured_content.get("unjudged", [])), text(result)


# --- (4)/(2) a chat whose id cannot be put in a path vanishes from the unread view's counts -----------------------


async def test_a_chat_whose_id_cannot_be_asked_about_counts_as_unknown(client: Client, workspace: Workspace) -> None:
    """walk_list swallows InvalidArguments from read_chat ("an id we cannot ask about: nothing to do for it"): a
    chat whose id is not [A-Za-z0-9_-]{1,64} (the document's chat_id is any string) and whose list entry lacks
    the unread count is neither shown, nor counted unknown, nor read: list_chats unread=true says "0 unread
    chat(s) among 2 listed" and complete: true. It is an unknown count, not zero, and should be said so
    (counted in ``unknown``), like an entry without chat_id makes the walk not complete."""
    odd = entry("2890538000000066601.1", "Partner chat", chat_type="group_chat", last_modified_time=RECENT)
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Q2"), odd]}))
    result = await client.call_tool("list_chats", {"unread": True})
    data = result.structured_content
    counted = data.get("unread_unknown") or 0
    assert counted == 1 or data["complete"] is False, text(result)


# --- (3) the group-chat filter applied here is not said, and the counts do not add up ------------------------------


async def test_clearing_group_chats_says_this_server_filtered_them(client: Client, workspace: Workspace) -> None:
    """clear_unread_counts all=true chat_type=group_chat: Cliq's list has no group filter, so this server walks
    every chat and keeps the group chats -- but the answer never says so (list_chats' page does), and its
    "N open chat(s) listed; a had unread, b had none, c unknown" counts every chat listed against group-chat
    counts: 227 listed, 131 accounted for. The user asked to mark their group chats read and reads that 227 chats
    were looked at with 96 unexplained. Issue 20 promise (3): group chats are filtered here and it says so."""
    result = await client.call_tool("clear_unread_counts", {"all": True, "chat_type": "group_chat"})
    data, said = result.structured_content, text(result)
    accounted = data["had_unread"] + data["already_read"] + data["unread_unknown"]
    assert accounted == data["listed"] or "group" in said, said


# --- (2) a chat whose type Cliq never tells is silently "not a group chat" in every walk -------------------------


async def test_a_chat_whose_type_is_never_told_is_named_not_passed_over(client: Client, workspace: Workspace) -> None:
    """walk_list, for a type Cliq's list cannot filter (group_chat), reads a chat without chat_type alone; when that
    answer leaves chat_type out too, ``chat.chat_type == here`` is False and the chat is passed over without a word
    -- counted as checked, never listed as not judged, and the walk ends complete. clear_unread_counts all=true
    chat_type=group_chat leaves that chat's unread messages in place and says every group chat was done; plan_tidy
    chat_type=group_chat says "Checked all 1 chats (complete)" with nothing unjudged. Unknown type was taken as
    "not a group chat": promise (2) says it is "not judged", and said."""
    g = unread_groups(workspace)[0]
    bare = entry(g.chat_id, g.name, last_modified_time=OLD, participant_count=3, pinned=False,
                 unread_message_count=g.unread)  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{g.chat_id}", kind="status", status=200,
                           body={"type": "chat", "data": bare}, times=2))  # fmt: skip
    workspace.inject(list_fault({"chats": [bare]}, times=2))
    plan = await client.call_tool("plan_tidy", {"inactive_days": 30, "chat_type": "group_chat"})
    cleared = await client.call_tool("clear_unread_counts", {"all": True, "chat_type": "group_chat"})
    said_plan = plan.structured_content["complete"] is False or bool(plan.structured_content.get("unjudged"))
    said_clear = cleared.structured_content["complete"] is False or g.chat_id in text(cleared)
    assert said_plan and said_clear, text(plan) + "\n---\n" + text(cleared)


@pytest.mark.parametrize("cursors", [["TOK1", "TOK1"], ["A", "B", "A"], ["A", "B", "C", "B", "C"]])
async def test_a_listing_whose_cursors_lead_round_ends_with_no_cursor_to_follow(
    client: Client, workspace: Workspace, cursors: list[str]
) -> None:
    """The model pages list_chats itself. A page answered with the very cursor it was asked with was caught, but
    cursors leading round (A, B, A, B...) were handed on page after page: an agent following next_token paged for
    ever, seeing the same chats again. The listing now ends, not complete, within about twice the cycle."""
    for n, cursor in enumerate(cursors):
        workspace.inject(list_fault({"chats": [full(f"289053800000009999{n}", f"Chat {n}")], "next_token": cursor}))
    page = await client.call_tool("list_chats", {"limit": 5})
    calls = 1
    while page.structured_content.get("next_token"):
        assert "next_token" not in page.structured_content or page.structured_content["next_token"] not in cursors
        page = await client.call_tool("list_chats", {"limit": 5, "next_token": page.structured_content["next_token"]})
        calls += 1
    data = page.structured_content
    assert data["complete"] is False and data["why"] == "Cliq repeated its cursor", text(page)
    assert not data.get("continue_with") and "leads back to a page this listing already had" in text(page)
    assert calls == len(cursors)  # caught within about twice the cycle (Brent), with every answer Cliq gave


async def test_a_listing_cursor_is_refused_for_other_filters(client: Client, workspace: Workspace) -> None:
    first = await client.call_tool("list_chats", {"limit": 5})
    again = await client.call_tool("list_chats", {"limit": 5, "pinned": True,
                                                  "next_token": first.structured_content["next_token"]})  # fmt: skip
    assert again.is_error and "Invalid next_token" in text(again)


async def test_a_member_cliq_gave_no_name_or_email_is_shown_as_unknown(client: Client, workspace: Workspace) -> None:
    chat = "2890538000000099999"
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat}/members", kind="status", status=200,
                           body={"members": [{"user_id": "106324287"}]}))  # fmt: skip
    listed = await client.call_tool("list_chat_members", {"chat_id": chat})
    assert "106324287 · ? · ?" in text(listed) and "? = Cliq did not say." in text(listed), text(listed)
    assert '""' not in text(listed)


# --- absences that are not "none": a last message Cliq leaves out ("if available") and an unread count not told ---


@pytest.mark.parametrize("unread", [None, 0])
async def test_empty_never_rests_on_a_last_message_and_a_count_cliq_left_out(
    client: Client, workspace: Workspace, unread: int | None
) -> None:
    """plan_tidy empty=true: a group chat of five with messages, last active when it was created (Zoho's own
    get_chat example has created_time == last_modified_time), whose list entry and own answer both leave out
    last_message_info (sent "if available"). With the unread count left out too it was proposed as "no messages",
    and closed on the person's yes: an untold count was read as nothing unread. Now an untold count proposes
    nothing (the chat is not judged); with 0 unread told, the proposal says only what Cliq told."""
    chat_id, created = "2890538000000099999", "2025-06-15T10:30:00+05:30"
    told = {k: v for k, v in full(chat_id, "Q2 Review", participant_count=5, when=created).items()
            if k != "unread_message_count" or unread is not None} | {"created_time": created}  # fmt: skip
    if unread is not None:
        told["unread_message_count"] = unread
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=200,
                           body={"type": "chat", "data": told}))  # fmt: skip
    workspace.inject(list_fault({"chats": [{k: v for k, v in told.items() if k != "unread_message_count"}]}))
    result = await client.call_tool("plan_tidy", {"empty": True})
    data = result.structured_content
    proposed = [a for a in data["actions"] if a["chat_id"] == chat_id]
    assert "no messages" not in text(result)
    if unread is None:
        assert not proposed and any(chat_id in u and "unread count" in u for u in data["unjudged"]), text(result)
    else:
        (action,) = proposed
        assert action["reason"] == "no message shown, nothing unread, not active since created 2025-06-15 05:00Z"


async def test_mark_read_of_a_chat_whose_last_message_cliq_left_out_is_not_nothing_to_do(
    client: Client, workspace: Workspace
) -> None:
    """mark_chat_read without a message id reads the chat with its last message; Cliq answered 3 unread but no
    last_message_info, and the tool said "Nothing to do: chat … has no messages to read" (no error): the model
    reported the chat read. An answer without a last message is not "no messages": nothing is sent and the error
    names the way that needs no message id."""
    chat_id = "2890538000000099999"
    told = full(chat_id, "Q2 Review", participant_count=5, unread_message_count=3)
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=200,
                           body={"type": "chat", "data": told}))  # fmt: skip
    result = await client.call_tool("mark_chat_read", {"chat_id": chat_id})
    assert result.is_error and "Nothing to do" not in text(result) and "no messages" not in text(result)
    assert f'clear_unread_counts {{"chat_ids": ["{chat_id}"]}}' in text(result)
    assert not writes(workspace)


async def test_a_preview_that_reaches_its_limit_past_an_entry_without_an_id_is_not_complete(
    client: Client, workspace: Workspace
) -> None:
    """preview_policy stops at the run's limit (max_acts) and said "these are all the acts a run would do now
    (complete)" although the page it stopped on held an entry without a chat id; `cliq-mcp tidy --apply` on the
    same answer plans "incomplete" and does nothing. The preview says what the run would do: not complete."""
    page = {"chats": [entry(None, "no id", chat_type="group_chat"), full("2890538000000066601", "Old", when=OLD)]}
    workspace.inject(list_fault(page, times=2))
    policy = "[limits]\nmax_acts = 1\n[close]\nchat_types = ['group_chat']\ninactive_days = 30\n"
    result = await client.call_tool("preview_policy", {"policy": policy})
    data = result.structured_content
    assert data["complete"] is False and "without a chat id" in data["why"], text(result)
    assert data["listed"] == 2 and "(complete)" not in text(result)


async def test_the_unread_view_of_group_chats_says_this_server_kept_them(client: Client, workspace: Workspace) -> None:
    """list_chats unread=true chat_type=group_chat walks every chat (Cliq's list cannot filter group chats) and
    said "227 chats listed" with no word that the count is of every chat, not of group chats."""
    result = await client.call_tool("list_chats", {"unread": True, "chat_type": "group_chat"})
    assert "(Cliq's list has no group_chat filter: this server kept the group_chat chats)" in text(result)
    assert {c["chat_type"] for c in result.structured_content["chats"]} == {"group_chat"}


# --- (h20-1) a walk that reads chats alone to learn their type makes progress across calls -----------------------


async def test_clearing_untyped_group_chats_makes_progress_across_calls(fake_time: FakeTime) -> None:
    """clear_unread_counts all=true chat_type=group_chat clears a page with one request at the page's end; a
    list entry without chat_type is read alone (GET /chats/{id}) to learn its type. With a page of 100 such
    entries the get-chat budget (about 54 a minute) stops the call mid-page, and the continuation restarted the
    page from its top: it read the same chats again, stopped again, and cleared nothing, however often it was
    followed. Each call must keep what it learnt, so that following continue_with ends, every chat read alone
    once, every group chat with unread messages cleared, and the counts adding up."""
    cliq, workspace = on_fake_time(fake_time)
    mine = workspace.my_chats()[:100]
    page = {"chats": [entry(c.chat_id, c.name, last_modified_time=RECENT, unread_message_count=c.unread)
                      for c in mine]}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats/", kind="hook", then=lambda: None, times=10**6))
    workspace.inject(list_fault(page, times=10**6))
    unread = {c.chat_id for c in mine if c.chat_type == "group_chat" and c.unread}
    groups = [c for c in mine if c.chat_type == "group_chat"]
    assert len(unread) > 3 and len(mine) > 60
    async with Client(cliq.server(cliq.settings()), mode="auto") as client:
        arguments: dict[str, Any] = {"all": True, "chat_type": "group_chat"}
        for _ in range(10):
            result = await client.call_tool("clear_unread_counts", arguments)
            data = result.structured_content
            assert result.is_error is False, text(result)
            if data["complete"]:
                break
            fake_time.advance(data.get("retry_after_s") or 61)
            arguments = {"all": True, "chat_type": "group_chat", **data["continue_with"]}
    assert data["complete"] is True, text(result)
    reads = [r.path for r in api_calls(workspace) if r.method == "GET" and r.path.startswith("/api/v3/chats/")]
    assert len(reads) == len(set(reads)) == len(mine), f"{len(reads)} reads alone of {len(set(reads))} chats"
    cleared = {c for r in writes(workspace) for c in (r.json or {}).get("chat_ids", [])}
    assert unread <= cleared and not [c for c in unread if workspace.chats[c].unread], text(result)
    assert data["had_unread"] + data["already_read"] + data["unread_unknown"] == len(groups), text(result)


# --- (h20-2) list cursors that cycle A->B->A... across calls end the walk ----------------------------------------


@pytest.mark.parametrize("tool", ["clear_unread_counts", "list_chats", "plan_tidy", "preview_policy"])
async def test_list_cursors_that_cycle_across_calls_end_the_walk(
    client: Client, workspace: Workspace, fake_time: FakeTime, tool: str
) -> None:
    """Every walker caught a repeated list cursor only within one call (or when Cliq answered with the very cursor
    it was asked with). When Cliq's cursors cycle (A, B, A, B...) and a throttle with a long Retry-After ends each
    call after a page, following continue_with walked the cycle forever, the running counts growing with each
    lap ("12 open chats listed, 9 had unread" of 4 chats). The walk must end, not complete, saying Cliq repeated
    its list cursors, with nothing to continue: here on the third call, when page C hands back page B's cursor."""
    a, b, c = unread_groups(workspace)[:3]
    for chat, token in ((a, "ta"), (b, "tb"), (c, "ta")):
        listed = full(chat.chat_id, chat.name, when=OLD, unread_message_count=chat.unread)
        workspace.inject(list_fault({"chats": [listed], "next_token": token}))
        if chat is not c:  # the next page is throttled beyond the client's own short retry: the call ends
            workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=429,
                                   body=THROTTLED, headers={"Retry-After": "60"}))  # fmt: skip
    arguments: dict[str, Any] = {
        "clear_unread_counts": {"all": True}, "list_chats": {"unread": True}, "plan_tidy": {"inactive_days": 30},
        "preview_policy": {"policy": "[close]\ninactive_days = 365\n"},
    }[tool]  # fmt: skip
    calls = 0
    while calls < 6:
        calls += 1
        result = await client.call_tool(tool, arguments)
        data = result.structured_content
        assert result.is_error is False, text(result)
        if not data.get("continue_with"):
            break
        fake_time.advance(data.get("retry_after_s") or 60)
        arguments = {**arguments, **data["continue_with"]}
    assert calls == 3 and data["complete"] is False and "repeated a list cursor" in (data["why"] or ""), text(result)
    if tool == "clear_unread_counts":
        assert data["had_unread"] + data["already_read"] + data["unread_unknown"] == 3, text(result)


# --- (h20-3) a muted lookup cut short leaves a preview not complete ------------------------------------------------


async def test_a_muted_lookup_cut_short_leaves_the_preview_not_complete(client: Client, workspace: Workspace) -> None:
    """preview_policy learns the mute state from GET /chats?muted=true (walks.muted_chats); when Cliq repeats that
    list's cursor, the lookup gives up and every chat is kept out as "Cliq did not say whether it is muted" --
    but the answer said "0 acts planned ... Every chat judged ... (complete)": a plan of nothing, told as the
    whole truth, when the policy could not be applied to a single chat. It must say it is not complete, and why."""
    workspace.inject(list_fault({"chats": [full("2890538000000066601", "Muted one")], "next_token": "m1"}))
    workspace.inject(list_fault({"chats": [], "next_token": "m1"}))  # the muted list repeats its cursor
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Q2", when=OLD)]}))
    policy = "[exclude]\nmuted = true\n[close]\ninactive_days = 365\n"
    result = await client.call_tool("preview_policy", {"policy": policy})
    data = result.structured_content
    assert data["complete"] is False and "muted" in (data["why"] or ""), text(result)
    assert "(complete)" not in text(result), text(result)


# --- (h20-4) a chat whose own answer is 404 is an unknown count, not dropped --------------------------------------


async def test_an_unread_view_names_a_chat_cliq_answers_404_for_alone(client: Client, workspace: Workspace) -> None:
    """list_chats unread=true reads a chat alone when its list entry has no unread count. If that read answers 404
    (the document lists 404 for GET /chats/{id}), walk_list took it as "gone since it was listed" and passed over
    it: neither shown nor counted unknown, and the answer said complete with one chat fewer "in all" than were
    listed. Its count is unknown: it must be named as such, like a chat Cliq refuses to show alone (403); and
    plan_tidy, which reads it alone for the same count, must say it did not judge it."""
    gone = "2890538000000066601"
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{gone}", kind="status", status=404,
                           body={"message": "The URL you've sent is wrong."}))  # fmt: skip
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Q2"),
                                           entry(gone, "Vendor Escalations", chat_type="group_chat")]}))  # fmt: skip
    result = await client.call_tool("list_chats", {"unread": True})
    data = result.structured_content
    assert gone in text(result) and data.get("unread_unknown") == 1, text(result)
    # plan_tidy, reading it alone for its unread count, says it did not judge it
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{gone}", kind="status", status=404,
                           body={"message": "The URL you've sent is wrong."}))  # fmt: skip
    workspace.inject(list_fault({"chats": [entry(gone, "Vendor Escalations", chat_type="group_chat",
                                                 last_modified_time=OLD)]}))  # fmt: skip
    plan = await client.call_tool("plan_tidy", {"unread_days": 30})
    assert any(gone in u for u in plan.structured_content.get("unjudged") or []), text(plan)


# --- a re-attack: a chat that cannot be read alone, relative times, pages that repeat with fresh cursors -----------

ODD = "6795XXXXXXXXXXXXXX"  # Zoho's own example chat id: a string, not the digits this server asks about


async def follow(client: Client, fake_time: FakeTime, tool: str, args: dict[str, Any], most: int = 6) -> list[Any]:
    answers: list[Any] = []
    while len(answers) < most:
        result = await client.call_tool(tool, args)
        answers.append(result)
        data = result.structured_content or {}
        if result.is_error or not data.get("continue_with"):
            break
        fake_time.advance(data.get("retry_after_s") or 61)
        args = {**args, **data["continue_with"]}
    return answers


@pytest.mark.parametrize("kind", ["odd_id", "403"])
@pytest.mark.parametrize("tool", ["plan_tidy", "clear_unread_counts", "list_chats"])
async def test_a_filtered_walk_passes_a_chat_of_untold_type_that_cannot_be_read_alone(
    client: Client, workspace: Workspace, fake_time: FakeTime, tool: str, kind: str
) -> None:
    """A group-chat walk reads a chat of untold type alone to learn its type. Only a 404 was passed over: a 403
    (Cliq will not show it alone) or an id this server cannot ask about ended every call at that chat with a
    cursor pointing back to it, and following continue_with never ended. The chat is named, the walk goes on."""
    bad = ODD if kind == "odd_id" else "2890538000000066601"
    if kind == "403":
        workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{bad}", kind="status", status=403,
                               body={"code": "forbidden", "message": "No access."}, times=3))  # fmt: skip
    page = {"chats": [full("2890538000000099999", "Q2", unread_message_count=2),
                      entry(bad, "Odd", last_modified_time=OLD),
                      full("2890538000000012399", "After", unread_message_count=4, when=OLD)]}  # fmt: skip
    workspace.inject(list_fault(page))
    args = {"plan_tidy": {"inactive_days": 30, "chat_type": "group_chat"},
            "clear_unread_counts": {"all": True, "chat_type": "group_chat"},
            "list_chats": {"unread": True, "chat_type": "group_chat"}}[tool]  # fmt: skip
    (answer,) = await follow(client, fake_time, tool, args)
    assert bad in text(answer) and "did not tell" in text(answer), text(answer)
    assert "would not show" in text(answer)  # a 403 alone is not an answer that left the type out
    assert "2890538000000012399" in text(answer) or tool == "clear_unread_counts", text(answer)  # walked past it


async def test_a_preview_does_not_call_a_chat_cliq_would_not_show_alone_gone(
    client: Client, workspace: Workspace
) -> None:
    """preview_policy left a listed chat whose own read answered 404 alone as "gone since it was listed", and
    said every chat was judged: it was never judged (Cliq lists 404 for a chat it will not show)."""
    chat_id = "2890538000000066601"
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=404,
                           body={"message": "The URL you've sent is wrong."}))  # fmt: skip
    workspace.inject(list_fault({"chats": [entry(chat_id, "Vendor", chat_type="group_chat", last_modified_time=OLD,
                                                 participant_count=3, pinned=False)]}))  # fmt: skip
    result = await client.call_tool("preview_policy", {"policy": "[clear_unread]\ninactive_days = 30\n",
                                                       "every_chat": True})  # fmt: skip
    data, said = result.structured_content, text(result)
    assert "gone" not in said and data["not_judged"] == 1 and "1 chat(s) could not be judged" in said, said
    assert f'left alone · {chat_id} · "Vendor" · not judged: Cliq would not show it alone' in said


async def test_a_page_continued_as_its_text_says_works_with_a_relative_time(
    client: Client, workspace: Workspace
) -> None:
    """list_chats with modified_after "3650d" said "call again with the same arguments and next_token=…", but
    "3650d" is a time as of each call, so the same arguments asked another query and the cursor was refused.
    The text now gives the arguments with the time it was."""
    first = await client.call_tool("list_chats", {"limit": 5, "modified_after": "3650d"})
    line = next(x for x in text(first).splitlines() if x.startswith("More: call again with {"))
    again = await client.call_tool("list_chats", json.loads(line.removeprefix("More: call again with ").rstrip(".")))
    assert not again.is_error and again.structured_content["chats"], text(again)


async def test_pages_of_chats_already_listed_end_the_walk_though_each_cursor_is_new(
    client: Client, workspace: Workspace, fake_time: FakeTime
) -> None:
    """Zoho's document does not say what a cursor is: Cliq may hand a new one with each page of the same chats.
    The unread view counted the same unread chat on every page ("4 in all" after four calls, for one)."""
    chats = [full("2890538000000099999", "Q2", unread_message_count=2), full("2890538000000066601", "V")]
    for n in range(2):
        workspace.inject(list_fault({"chats": chats, "next_token": f"t{n}"}))
    (answer,) = await follow(client, fake_time, "list_chats", {"unread": True})
    data = answer.structured_content
    assert data["complete"] is False and "already listed" in data["why"] and not data.get("continue_with")
    assert [c["chat_id"] for c in data["chats"]] == ["2890538000000099999"]


# --- a review of the day's changes: criteria add up, whatever one of them cannot tell ------------------------------


def _lone_group(workspace: Workspace, chat_id: str, **more: object) -> None:
    """A group chat, created long ago and never active since, whose list entry and own answer both leave out
    its last message and its unread count (Zoho sends both only "if available")."""
    told = {k: v for k, v in full(chat_id, "Old Offsite 2019", when=OLD, **more).items()
            if k != "unread_message_count"} | {"created_time": OLD}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=200,
                           body={"type": "chat", "data": told}))  # fmt: skip
    workspace.inject(list_fault({"chats": [told]}))


async def test_empty_true_does_not_hide_a_chat_inactive_days_proposes(client: Client, workspace: Workspace) -> None:
    """plan_tidy's criteria add up ("group chats with no one else, or never active since created: close"; or
    inactive_days). A group chat inactive since 2020 with its unread count untold is proposed by
    {"inactive_days": 30} ("no activity since ...; unread ?"). Adding empty=true makes _untold_for_closing return
    "unread count" (the chat, read alone, shows no last message and was never active since created), and _judge
    returns 'not judged' before inactive_days is ever looked at: asking for more criteria proposes fewer chats."""
    chat_id = "2890538000000066601"
    _lone_group(workspace, chat_id)
    result = await client.call_tool("plan_tidy", {"empty": True, "inactive_days": 30})
    proposed = [a for a in result.structured_content["actions"] if a["chat_id"] == chat_id]
    assert proposed and proposed[0]["tool"] == "close_chats", text(result)


async def test_empty_true_still_closes_a_group_with_no_one_else(client: Client, workspace: Workspace) -> None:
    """A group chat with participant_count 1 is 'no one else in it' whatever its unread count (a close proposal
    says 'unread ?' when Cliq left the count out). Since 2a9225f, when its own answer also shows no last message
    and no activity since creation, the untold unread count makes it 'not judged' instead."""
    chat_id = "2890538000000066602"
    _lone_group(workspace, chat_id, participant_count=1)
    result = await client.call_tool("plan_tidy", {"empty": True})
    proposed = [a for a in result.structured_content["actions"] if a["chat_id"] == chat_id]
    assert proposed and "no one else in it" in proposed[0]["reason"], text(result)


async def test_a_cursor_too_long_to_hand_on_is_not_handed_on_cut(client: Client, workspace: Workspace) -> None:
    """A Cliq cursor sealed for the model grows by about 125 characters: past what list_chats takes back, it was
    cut with "…", and the next call refused it. No cursor, and not complete, is the truth."""
    cursor = base64.urlsafe_b64encode(random.Random(7).randbytes(2960)).decode()  # 3,947 characters, no pattern
    workspace.inject(list_fault({"chats": [full("2890538000000099999", "Q2")], "next_token": cursor}))
    page = await client.call_tool("list_chats", {"limit": 5})
    data = page.structured_content
    assert data["complete"] is False and data["why"] == "Cliq's cursor is too long to hand on", text(page)
    assert not data.get("next_token") and not data.get("continue_with")


async def test_a_member_listed_without_a_user_id_is_set_aside_not_a_failed_answer(
    client: Client, workspace: Workspace
) -> None:
    """Zoho's Members schema requires no field. One member without a user_id failed the whole list ("missing
    members[1].user_id ... Cliq's API may have changed"), and removing anyone from that chat failed with it."""
    chat = "2890538000000099999"
    members = {"members": [{"user_id": "106324287", "name": "Ryan West"}, {"name": "Someone"}]}
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{chat}/members", kind="status", status=200,
                           body=members))  # fmt: skip
    listed = await client.call_tool("list_chat_members", {"chat_id": chat})
    assert not listed.is_error and [m["user_id"] for m in listed.structured_content["members"]] == ["106324287"]
    assert listed.structured_content["unreadable"] == [2] and "without a user id (position 2)" in text(listed)
