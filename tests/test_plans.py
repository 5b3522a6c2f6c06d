"""Plan once, act by reference (issue #21 item 2): plan_tidy keeps its proposals under a handle; close_chats and
clear_unread_counts take the handle, so the model never echoes the ids. Each close_chats call takes the plan's
next 50 chats, reads them once (the question is built from that read), asks a person listing every one, reads
them again right before acting, and answers in counts. A chat no longer as the plan found it is left alone."""

from __future__ import annotations

import time

from conftest import Cliq, answering, api_calls, text, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

THROTTLED_BODY = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}
CLOSE_PLAN = {"inactive_days": 365, "max_chats": 60}  # stops at 60 proposals: more than one batch of 50


def closes(workspace: Workspace) -> list[str]:
    return [w.path.rsplit("/", 1)[-1] for w in writes(workspace) if w.method == "PUT" and w.json == {
        "operation": "close_chat"}]  # fmt: skip


def id_reads(workspace: Workspace) -> int:
    """List requests by chat ids: how the batch is read (for the question, and again right before acting)."""
    return sum(1 for r in api_calls(workspace) if r.path == "/api/v3/chats" and "chat_ids" in dict(r.query))


async def test_a_plan_of_60_is_closed_by_its_handle_50_a_call_each_chat_shown_and_read_twice(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", CLOSE_PLAN)
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        assert len(ids) == 60 and planned.structured_content["proposed"] == {
            "close_chats": 60,
            "clear_unread_counts": 0,
        }
        # The text shows a few and the handle, never every id.
        assert sum(i in text(planned) for i in ids) == 5 and f'close_chats with plan="{handle}"' in text(planned)
        reads_before = id_reads(workspace)

        first = await client.call_tool("close_chats", {"plan": handle})
        assert first.is_error is False, text(first)
        assert closes(workspace) == ids[:50]
        # The person saw every chat their yes covered, one line each, and only those.
        assert len(seen) == 1 and all(i in seen[0].message for i in ids[:50])
        assert not any(i in seen[0].message for i in ids[50:])
        assert id_reads(workspace) - reads_before == 2  # once for the question, once right before acting
        data = first.structured_content
        assert (data["plan"], data["left_in_plan"], data["complete"], data["continue_with"]) == (
            handle,
            10,
            False,
            {"plan": handle},
        )
        assert not any(i in text(first) for i in ids)  # counts, not the ids the model never gave
        assert "Closed 50 of the 50" in text(first) and "10 chat(s) left in the plan" in text(first)
        # The next 10 would not fit in this minute's 54 closes: the answer says when they will.
        assert data["retry_after_s"] == 60 and "again after 60 s" in text(first)

        # Our pacing lets 54 closes a minute go (90% of Cliq's 60). Called at once, not after the wait it was
        # told (a model cannot wait): 4 of the 10 would fit, but the person is not put a question about a sliver
        # of the batch: nobody is asked, nothing is sent, and it says when the whole batch fits.
        early = await client.call_tool("close_chats", data["continue_with"])
        assert early.is_error is False and len(seen) == 1 and "nobody asked" in text(early)
        assert "room for 4 of them" in text(early) and closes(workspace) == ids[:50]
        assert early.structured_content["retry_after_s"] > 0
        cliq.time.advance(early.structured_content["retry_after_s"])
        third = await client.call_tool("close_chats", early.structured_content["continue_with"])
        assert closes(workspace) == ids and len(seen) == 2 and all(i in seen[1].message for i in ids[50:])
        # Nothing is left in the plan; the walk that made it stopped at max_chats, and the answer says so.
        assert third.structured_content["left_in_plan"] == 0 and third.structured_content["complete"] is False
        assert f"nothing is left in plan {handle} so far" in text(third) and "next_token" in text(third)

        requests = len(api_calls(workspace))
        nothing = await client.call_tool("close_chats", {"plan": handle})
    assert nothing.is_error is False and "Nothing to do" in text(nothing) and len(api_calls(workspace)) == requests
    assert all(workspace.chats[i].closed for i in ids)


async def test_a_chat_active_since_the_plan_is_left_alone_not_asked_about_and_forgotten(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 5})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        active, pinned = ids[1], ids[3]
        workspace.chats[active].modified_ms = int(time.time() * 1000)  # someone wrote in it meanwhile
        workspace.chats[pinned].pinned = True  # and someone pinned this one
        done = await client.call_tool("close_chats", {"plan": handle})
    assert done.is_error is False, text(done)
    assert closes(workspace) == [i for i in ids if i not in (active, pinned)]
    assert active not in seen[0].message and pinned not in seen[0].message
    outcomes = {i["chat_id"]: (i["outcome"], i.get("reason")) for i in done.structured_content["items"]}
    assert outcomes[active][0] == "left_alone" and outcomes[active][1].startswith("active since the plan")
    assert outcomes[pinned] == ("left_alone", "pinned since the plan")
    assert f"left alone (pinned since the plan): {pinned}" in text(done)
    assert done.structured_content["left_in_plan"] == 0
    assert done.structured_content["why"] == "the plan's walk did not check every chat"  # it stopped at max_chats


async def test_a_batch_cut_short_by_a_throttle_goes_on_with_the_same_yes(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[3]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await client.call_tool("close_chats", {"plan": handle})
        data = cut.structured_content
        assert closes(workspace) == ids[:4] and data["complete"] is False and data["retry_after_s"] == 30
        assert [i for i in ids if workspace.chats[i].closed] == ids[:3]  # Cliq refused the fourth
        # The four not sent wait in the plan, approved; the one Cliq refused stays in it too, to be asked again.
        assert data["left_in_plan"] == 5 and data["continue_with"] == {"plan": handle}
        assert "not asked about again" in text(cut)
        cliq.time.advance(30)
        rest = await client.call_tool("close_chats", data["continue_with"])
    assert rest.is_error is False, text(rest)
    assert len(seen) == 1  # the person's yes held for the chats approved and not sent
    assert closes(workspace) == ids and rest.structured_content["left_in_plan"] == 1  # the fourth once only
    assert not workspace.chats[ids[3]].closed  # Cliq refused it: reported failed, not retried unasked


async def test_a_plans_unread_chats_are_marked_read_in_one_request_by_its_handle(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    async with Client(cliq.server(settings), mode=era) as client:
        planned = await client.call_tool("plan_tidy", {"unread_days": 30})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        assert ids and {a["tool"] for a in planned.structured_content["actions"]} == {"clear_unread_counts"}
        before = len(api_calls(workspace))
        done = await client.call_tool("clear_unread_counts", {"plan": handle})
        again = await client.call_tool("clear_unread_counts", {"plan": handle})
    assert done.is_error is False, text(done)
    (put,) = writes(workspace)
    # One list request by ids (a chat written in since the plan is left alone), then one clear for them all.
    assert put.json == {"operation": "clear_unread", "chat_ids": ids} and len(api_calls(workspace)) == before + 2
    assert all(workspace.chats[i].unread == 0 for i in ids)
    assert done.structured_content["left_in_plan"] == 0 and not any(i in text(done) for i in ids)
    assert "Nothing to do" in text(again) and again.is_error is False


async def test_an_unknown_plan_or_a_plan_with_ids_is_refused_and_nothing_is_sent(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    async with Client(cliq.server(settings), mode=era) as client:
        unknown = await client.call_tool("close_chats", {"plan": "plan-nothere1"})
        both = await client.call_tool("close_chats", {"plan": "plan-nothere1", "chat_ids": ["2890538000000099999"]})
        odd = await client.call_tool("clear_unread_counts", {"plan": "../../etc"})
    assert unknown.is_error and "no plan plan-nothere1" in text(unknown) and "plan_tidy" in text(unknown)
    assert both.is_error and "not both" in text(both)
    assert odd.is_error and "plan" in text(odd)
    assert api_calls(workspace) == []
