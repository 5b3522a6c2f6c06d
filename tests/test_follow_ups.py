"""A follow-up needs no id the text never showed (issue #21 item 3): mark_chat_unread and fork_chat start from
the chat's latest message when no message id is given, read with one get_chat; never a guessed id."""

from __future__ import annotations

from conftest import ALICE_LAST, Cliq, api_calls, text, writes
from mcp import Client
from simulated_cliq import Workspace

from cliq_mcp.config import Settings
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
    assert result.is_error is True and "did not tell the id" in text(result) and "message_id" in text(result)
    assert writes(workspace) == []
