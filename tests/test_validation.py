"""Bad input is refused with a short message that names the field, and no request is made."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_calls
from mcp import Client
from simulated_cliq import Workspace

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("get_chat", {}, "chat_id is required, e.g. 2890538000000012345"),
    # A JSON number for an id: refused, saying to quote it (19 digits do not survive a double).
    ("get_chat", {"chat_id": 2890538000000099999}, 'chat_id: pass ids as strings, e.g. "2890538000000099999"'),
    ("close_chats", {"chat_ids": ["1", 2]}, "chat_ids.1: pass ids as strings"),
    ("mark_chats_read", {"chats": [{"chat_id": "1", "message_id": 17}]}, "message_id: pass ids as strings"),
    ("create_chat", {"chat_type": "direct_message", "user_id": 106324287}, "user_id: pass ids as strings"),
    ("get_chat", {"chat_id": True}, "chat_id must be text (a JSON string)"),
    ("rename_chat", {"chat_id": "1", "title": 5}, "title must be text (a JSON string)"),
    ("get_chat", {"chat_id": "../../oauth/v2/token"}, "chat_id"),
    ("get_chat", {"chat_id": "2890538000000012345/members"}, "chat_id"),
    ("get_chat", {"chat_id": "1", "include": "everything"}, "include"),
    ("get_chat", {"chat_id": "1", "surprise": 1}, "surprise is not an argument of this tool"),
    ("list_chats", {"limit": 0}, "limit"),
    ("list_chats", {"limit": 101}, "limit"),
    ("list_chats", {"limit": "many"}, "limit"),
    ("list_chats", {"modified_after": 2000, "modified_before": 1000}, "modified_after must be earlier"),
    ("list_chats", {"modified_after": "2025-02-01T00:00:00Z", "modified_before": "2025-01-01T00:00:00Z"},
     "modified_after must be earlier"),
    ("list_chats", {"modified_after": "yesterday"}, "modified_after"),
    ("list_chats", {"modified_after": "1960-01-01T00:00:00Z"}, "before 1970"),
    ("search_chats", {"name": "x" * 201}, "name"),
    ("search_chats", {"chat_type": ["bot"]}, "chat_type"),
    ("search_chats", {"sort_by": "alphabetical"}, "sort_by"),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["1", "2"]}, "user_ids and title"),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["1"], "title": "t"}, "at least 3 members"),
    ("create_chat", {"chat_type": "direct_message"}, "user_id only"),
    ("create_chat", {"chat_type": "channel", "title": "t"}, "chat_type"),
    ("create_chat", {"chat_type": "group_chat", "user_ids": [str(i) for i in range(51)], "title": "t"}, "user_ids"),
    ("mark_chats_read", {"chats": []}, "chats"),
    ("mark_chats_read", {"chats": [{"chat_id": "1"}]}, "chats[0].message_id is required"),
    ("clear_unread_counts", {"chat_ids": [str(i) for i in range(101)]}, "chat_ids"),
    ("rename_chat", {"chat_id": "1", "title": ""}, "title"),
    ("rename_chat", {"chat_id": "1", "title": "t" * 256}, "title"),
    ("set_chat_history", {"chat_id": "1", "history_status": "on"}, "history_status"),
    ("mark_chat_unread", {"chat_id": "1", "message_id": "abc"}, "message_id"),
    ("add_chat_members", {"chat_id": "1", "user_ids": []}, "user_ids"),
    ("add_chat_members", {"chat_id": "1", "user_ids": ["Bob Carter"]}, "find_people or list_chat_members"),
    ("list_chats", {"modified_after": "last tuesday"}, "modified_after is not a time; write 2025-01-31"),
    ("list_chats", {"limit": "many"}, "limit must be a whole number, e.g. 20"),
    ("search_chats", {"sort_by": "alphabetical"}, "sort_by must be one of 'usage' or 'recent'"),
    ("find_people", {}, "query is required"),
    ("fork_chat", {"chat_id": "1"}, "title is required"),
    ("send_typing_activity", {"chat_id": "1", "action": "dancing"}, "action"),
    ("close_chat", {"chat_id": "1 OR 1=1"}, "chat_id"),
    ("remove_chat_members", {"chat_id": "1", "user_ids": "[not json"}, "user_ids"),
]  # fmt: skip


@pytest.mark.era_independent
@pytest.mark.parametrize(("tool", "args", "needle"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
async def test_bad_input_is_refused_before_any_request(
    client: Client, workspace: Workspace, tool: str, args: dict[str, Any], needle: str
) -> None:
    result = await client.call_tool(tool, args)
    assert result.is_error is True
    text = result.content[0].text
    assert text.startswith("Invalid arguments, nothing was sent:"), text
    assert needle in text
    assert "Error executing tool" not in text and "pydantic" not in text
    for jargon in ("constrained-", "Input should", "Field required", "function-", "Value error"):
        assert jargon not in text, text
    assert len(text) < 600
    assert api_calls(workspace) == []


async def test_lists_sent_as_strings_by_some_clients_are_accepted(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("clear_unread_counts", {"chat_ids": '["2890538000000012345"]'})
    assert result.is_error is False, result.content
    assert api_calls(workspace)[0].json == {"operation": "clear_unread", "chat_ids": ["2890538000000012345"]}


async def test_unknown_tool_is_an_error_not_a_crash(client: Client) -> None:
    result = await client.call_tool("delete_everything", {})
    assert result.is_error is True
    assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
