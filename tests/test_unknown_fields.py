"""What Cliq does not tell is never told as something else. Against the simulated workspace in its default,
document-shaped form (list entries without an unread count for about half the chats, without a last message
for about a third, a quarter of last messages in the shape without a message id), an assistant that believes
the answers gets the true picture: unknown counts are said to be unknown, "what's unread" is answered with
true counts at the API's minimum of requests, plans propose only what is so, and a walk Cliq cuts short (a
repeated cursor, an entry without an id) never says it is complete."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from conftest import Cliq, api_calls, text
from mcp import Client
from simulated_cliq import FakeTime, Fault, Workspace, observed

from cliq_mcp.sandbox.render import last_message_info, listed

pytestmark = pytest.mark.era_independent  # what Cliq told and what the tools say of it lie below the protocol


def on_fake_time(fake_time: FakeTime) -> tuple[Cliq, Workspace]:
    """The workspace's rate windows on the server's clock: waiting as told is instant and honest."""
    workspace = Workspace(clock=fake_time)
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time), workspace


async def walk(client: Client, fake_time: FakeTime, tool: str, args: dict[str, Any]) -> list[Any]:
    """Call ``tool`` until its answer is complete, as its answers say to: every answer."""
    answers = []
    arguments = dict(args)
    for _ in range(30):
        result = await client.call_tool(tool, arguments)
        assert result.is_error is False, text(result)
        answers.append(result)
        data = result.structured_content
        if data["complete"]:
            return answers
        assert "Not complete" in text(result) or "NOT complete" in text(result)
        fake_time.advance(data.get("retry_after_s") or 0)
        arguments = {**args, **data["continue_with"]}
    raise AssertionError("never complete")


async def test_a_list_says_which_unread_counts_it_does_not_know(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("list_chats", {"limit": 100})
    chats, lines = result.structured_content["chats"], text(result).splitlines()
    unknown = [c for c in chats if c["unread"] is None]  # null in the structured content, never absent or 0
    assert len(unknown) == sum(not listed(workspace, workspace.chats[c["chat_id"]])[0] for c in chats) > 20
    assert all("unread" in c for c in chats) and result.structured_content["unread_unknown"] == len(unknown)
    for chat in unknown:
        line = next(x for x in lines if x.startswith(chat["chat_id"]))
        assert line.removesuffix(" muted").removesuffix(" pinned").endswith(" ?")  # unread: ? = Cliq did not say
    assert 'id type "name" last-active unread (? = Cliq did not say)' in lines[0]
    note = next(x for x in lines if x.startswith("Unread ? ("))
    assert note == (f"Unread ? ({len(unknown)}): not in Cliq's list, not none; the same list_chats call with "
                    "unread=true (no next_token) reads every count (get_chat: one chat's).")  # fmt: skip


async def test_whats_unread_is_answered_with_true_counts_at_the_apis_minimum(fake_time: FakeTime) -> None:
    cliq, workspace = on_fake_time(fake_time)
    mine = workspace.my_chats()
    truth = {c.chat_id: c.unread for c in mine if c.unread}
    without_count = [c.chat_id for c in mine if not listed(workspace, c)[0]]
    assert len(truth) > 50 and any(not listed(workspace, workspace.chats[c])[0] for c in truth)
    async with Client(cliq.server(cliq.settings())) as client:
        answers = await walk(client, fake_time, "list_chats", {"unread": True})
    found = {c["chat_id"]: c["unread"] for a in answers for c in a.structured_content["chats"]}
    assert found == truth  # every unread chat, its true count; no read chat, none twice
    order = [c["chat_id"] for a in answers for c in a.structured_content["chats"]]
    assert order == [c.chat_id for c in mine if c.unread]  # most recent first
    pages = [r for r in api_calls(workspace) if r.path == "/api/v3/chats"]
    gets = [r.path.rsplit("/", 1)[1] for r in api_calls(workspace) if r.path != "/api/v3/chats"]
    assert sorted(gets) == sorted(without_count)  # a chat is read alone only when the list lacks its count
    # Each page once, but the page a continued walk resumes on (Cliq's cursor brings it back whole).
    assert -(-len(mine) // 100) <= len(pages) <= -(-len(mine) // 100) + len(answers) - 1
    assert len(answers) >= 2  # Cliq's get threshold (60 a minute) makes the walk resume, as it says
    line = next(x for x in text(answers[0]).splitlines() if x.startswith(order[0]))
    assert line.startswith(f"{order[0]} {truth[order[0]]} ")  # id, then its true count


async def test_empty_proposes_only_group_chats_that_truly_have_no_messages(fake_time: FakeTime) -> None:
    cliq, workspace = on_fake_time(fake_time)
    groups = [c for c in workspace.my_chats() if c.chat_type == "group_chat" and not c.pinned]
    empty = {c.chat_id for c in groups if not c.visible_messages or len(c.members) <= 1}
    unsaid = [c for c in groups if c.visible_messages and not listed(workspace, c)[1]]
    assert empty and len(unsaid) > 10  # many group chats whose list entry leaves their last message out
    async with Client(cliq.server(cliq.settings())) as client:
        answers = await walk(client, fake_time, "plan_tidy", {"empty": True})
    proposed = {a["chat_id"] for r in answers for a in r.structured_content["actions"]}
    assert proposed == empty  # none of the chats with messages, whatever their list entry said
    gets = {r.path.rsplit("/", 1)[1] for r in api_calls(workspace) if r.path != "/api/v3/chats"}
    every_group = [c for c in workspace.my_chats() if c.chat_type == "group_chat" and len(c.members) > 1]
    # Read alone exactly the group chats whose list entry showed no last message (not shown is not "none").
    assert gets == {c.chat_id for c in every_group if not (listed(workspace, c)[1] and c.visible_messages)}
    assert all("include=last_message_info" in str(r.query) or ("include", "last_message_info") in r.query
               for r in api_calls(workspace) if r.path != "/api/v3/chats")  # fmt: skip


async def test_a_chat_with_no_count_even_alone_is_not_judged_and_said_so(client: Client, workspace: Workspace) -> None:
    stale = next(c for c in workspace.my_chats() if c.unread and not listed(workspace, c)[0])
    alone = {"type": "chat", "data": {"chat_id": stale.chat_id, "name": stale.name, "chat_type": stale.chat_type,
                                      "last_modified_time": "2020-01-01T00:00:00Z", "pinned": False}}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{stale.chat_id}", kind="status", status=200,
                           body=alone))  # fmt: skip
    result = await client.call_tool("plan_tidy", {"unread_days": 1, "name": stale.name, "max_chats": 50})
    data = result.structured_content
    assert stale.chat_id not in {a["chat_id"] for a in data["actions"]}
    assert f"{stale.chat_id} (Cliq did not tell its unread count (unread_message_count))" in data["unjudged"]
    assert "Not judged, nothing proposed" in text(result)


@pytest.mark.parametrize("tool", ["plan_tidy", "clear_unread_counts", "list_chats"])
async def test_a_cursor_cliq_repeats_ends_the_walk_not_complete(
    client: Client, workspace: Workspace, tool: str
) -> None:
    page = {"chats": [{"chat_id": "2890538000000012345", "name": "Alice Johnson", "chat_type": "direct_message",
                       "last_modified_time": "2025-04-10T14:30:00.000Z", "pinned": False,
                       "unread_message_count": 0}], "next_token": "same"}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=200, body=page, times=5))
    args = {"plan_tidy": {"inactive_days": 30}, "clear_unread_counts": {"all": True}, "list_chats": {"unread": True}}
    result = await client.call_tool(tool, args[tool])
    data = result.structured_content
    assert data["complete"] is False and "repeated a list cursor" in data["why"], text(result)
    assert len(api_calls(workspace)) == 2 and "continue_with" not in data  # nothing to continue: it would loop
    assert "Not complete" in text(result) or "NOT complete" in text(result)


async def test_an_entry_without_a_chat_id_is_named_by_position_not_a_failed_page(
    client: Client, workspace: Workspace
) -> None:
    page = {"chats": [{"chat_id": "2890538000000012345", "name": "Alice Johnson"}, {"name": "Mystery"},
                      {"chat_id": "2890538000000067890"}]}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=200, body=page, times=2))
    listed_ = await client.call_tool("list_chats", {})
    assert listed_.is_error is False and [c["chat_id"] for c in listed_.structured_content["chats"]] == [
        "2890538000000012345", "2890538000000067890"]  # fmt: skip
    assert "1 entry of Cliq's answer had no chat id (position 2): not shown." in text(listed_)
    assert listed_.structured_content["complete"] is False and listed_.structured_content["unreadable"] == [2]
    line = next(x for x in text(listed_).splitlines() if x.startswith("2890538000000067890"))
    assert line == "2890538000000067890 ? (name unknown) ? ?"  # nothing made up
    plan = await client.call_tool("plan_tidy", {"inactive_days": 30})
    assert plan.structured_content["complete"] is False and "without a chat id" in plan.structured_content["why"]


async def test_a_last_message_without_an_id_is_shown_as_such(client: Client, workspace: Workspace) -> None:
    chat = next(c for c in workspace.my_chats() if "sender_id" in (last_message_info(workspace, c) or {}))
    result = await client.call_tool("get_chat", {"chat_id": chat.chat_id, "include": "last_message_info"})
    last = result.structured_content["chat"]["last_message"]
    assert "message_id" not in last and last["text"] == chat.visible_messages[-1].text
    sender = chat.visible_messages[-1].sender
    assert last["sender"] == sender and last["sender_name"] == workspace.user_name(sender)
    assert "Last message (Cliq gave no message id) from" in text(result)


async def test_a_policy_keeping_muted_chats_out_learns_them_from_the_lists_filter(
    client: Client, workspace: Workspace
) -> None:
    now = datetime.now(timezone.utc)
    stale = {c.chat_id for c in workspace.my_chats() if not c.pinned
             and now - datetime.fromtimestamp(c.modified_ms / 1000, timezone.utc) > timedelta(days=365)}  # fmt: skip
    muted = {c for c in stale if workspace.chats[c].muted}
    assert muted and stale - muted
    policy = "[limits]\nmax_acts = 1000\n[exclude]\nmuted = true\n[close]\ninactive_days = 365\n"
    result = await client.call_tool("preview_policy", {"policy": policy})
    data = result.structured_content
    assert data["complete"] is True and {c["chat_id"] for c in data["chats"]} == stale - muted
    assert data["excluded"]["muted"] == sum(1 for c in workspace.my_chats() if c.muted and not c.pinned)
    assert any(dict(r.query).get("muted") == "true" for r in api_calls(workspace))


async def test_the_lists_own_word_for_a_type_points_to_the_tools_one(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("list_chats", {"type": "bot"})
    assert result.is_error is True and "type is not an argument of this tool (did you mean `chat_type`?)" in text(
        result
    )
    assert api_calls(workspace) == []


async def test_a_filtered_list_continues_with_its_filter(client: Client, workspace: Workspace) -> None:
    """Following the answer's own continuation keeps the filter: page 2 of the group chats is group chats."""
    first = await client.call_tool("list_chats", {"chat_type": "group_chat"})
    again = first.structured_content["continue_with"]
    assert again["chat_type"] == "group_chat" and "the same arguments and next_token=" in text(first)
    second = await client.call_tool("list_chats", again)
    assert {c["chat_type"] for c in second.structured_content["chats"]} == {"group_chat"}


async def test_closing_between_plan_answers_keeps_the_cursor_small_and_the_counts_true(
    client: Client, workspace: Workspace
) -> None:
    """plan_tidy, then close what it proposed, then continue, as its answers invite: the cursor does not carry
    the closed chats (they left the page) and never says more chats checked than listed."""
    arguments = {"inactive_days": 90, "max_chats": 50}
    for _ in range(6):
        result = await client.call_tool("plan_tidy", arguments)
        data = result.structured_content
        assert result.is_error is False and data["checked"] <= data["listed"], text(result)
        for action in data["actions"]:
            workspace.chats[action["chat_id"]].closed = True  # the person closed them meanwhile
        if data["complete"]:
            break
        assert len(data["next_token"]) < 2000  # what the tool takes back
        arguments = data["continue_with"]
    assert data["complete"] is True
