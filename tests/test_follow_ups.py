"""A follow-up needs no id the text never showed (issue #21 item 3): mark_chat_unread and fork_chat start from
the chat's latest message when no message id is given, read with one get_chat; never a guessed id."""

from __future__ import annotations

import pytest
from conftest import ALICE_LAST, Cliq, api_calls, text, writes
from mcp import Client
from simulated_cliq import Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.sandbox.render import last_message_info

ALICE = "2890538000000012345"


async def test_mark_chat_unread_without_a_message_id_marks_from_the_latest(
    client: Client, workspace: Workspace
) -> None:
    workspace.chats[ALICE].unread = 0
    result = await client.call_tool("mark_chat_unread", {"chat_id": ALICE})
    assert result.is_error is False, text(result)
    read, put = api_calls(workspace)
    assert (read.method, read.path, dict(read.query)) == ("GET", f"/api/v3/chats/{ALICE}",
                                                           {"include": "last_message_info"})  # fmt: skip
    assert put.json == {"operation": "mark_as_unread", "message_id": ALICE_LAST}
    assert workspace.chats[ALICE].unread == 1 and ALICE_LAST in text(result)


async def test_fork_chat_without_a_message_id_starts_at_the_latest(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("fork_chat", {"chat_id": ALICE, "title": "Follow-up", "include_participants": True})
    assert result.is_error is False, text(result)
    (fork,) = writes(workspace)
    assert fork.json["message_id"] == ALICE_LAST


async def test_a_chat_whose_latest_message_cliq_gives_no_id_is_refused_nothing_sent(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    # Zoho's schema shape of a last message has no message id: nothing can be marked from it.
    mine = workspace.my_chats()
    shapeless = [c for c in mine if c.visible_messages and "message_id" not in (last_message_info(workspace, c) or {})]
    assert shapeless
    async with Client(cliq.server(settings), mode=era) as client:
        result = await client.call_tool("mark_chat_unread", {"chat_id": shapeless[0].chat_id})
        read = await client.call_tool("mark_chat_read", {"chat_id": shapeless[0].chat_id})
    assert result.is_error is True and "without its id" in text(result) and "message_id" in text(result)
    # To read it, the way that needs no message id is named: something an assistant can do.
    assert read.is_error is True and f'clear_unread_counts {{"chat_ids": ["{shapeless[0].chat_id}"]}}' in text(read)
    assert writes(workspace) == []


# One name per thing (issue #21 item 5): a chat's name filter is `name`, a message id `message_id`, a person's
# email `email`, in every tool; Cliq's own words for them are named back to the tool's.
@pytest.mark.parametrize(
    ("tool", "arguments", "meant"),
    [
        ("search_chats", {"title": "Q2"}, "name"),
        ("mark_chat_read", {"chat_id": ALICE, "last_message_id": ALICE_LAST}, "message_id"),
        ("find_people", {"name": "Alice"}, "query"),
        ("create_chat", {"chat_type": "group_chat", "title": "t", "emails": ["a@zylker.com"]}, "user_ids"),
    ],
)
async def test_cliqs_word_for_an_argument_names_the_tools(
    client: Client, workspace: Workspace, tool: str, arguments: dict[str, object], meant: str
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error is True and f"(did you mean `{meant}`?)" in text(result), text(result)
    assert api_calls(workspace) == []


async def test_the_same_things_have_the_same_names_on_the_wire_and_in_answers(
    client: Client, workspace: Workspace
) -> None:
    found = await client.call_tool("search_chats", {"name": "Q2"})
    read = await client.call_tool("mark_chat_read", {"chat_id": ALICE, "message_id": ALICE_LAST})
    members = await client.call_tool("list_chat_members", {"chat_id": "2890538000000099999"})
    search, put = api_calls(workspace)[:2]
    assert dict(search.query)["title"] == "Q2" and found.is_error is False  # Cliq's word on the wire
    assert put.json == {"operation": "mark_as_read", "last_message_id": ALICE_LAST} and read.is_error is False
    assert all(set(m) <= {"user_id", "name", "email"} for m in members.structured_content["members"])
    assert any("email" in m for m in members.structured_content["members"])


async def test_a_direct_chat_cliq_already_had_is_not_said_to_be_created(client: Client, workspace: Workspace) -> None:
    # Cliq answers a direct chat's creation with the one you already have with that person.
    group = await client.call_tool("create_chat", {"chat_type": "group_chat", "title": "New group",
                                                   "user_ids": ["106324287", "70317945"]})  # fmt: skip
    direct = await client.call_tool("create_chat", {"chat_type": "direct_message", "user_id": "106324287"})
    assert text(group).startswith("Created chat"), text(group)
    assert text(direct).startswith("Direct chat (yours already, or new)") and "Created" not in text(direct)
