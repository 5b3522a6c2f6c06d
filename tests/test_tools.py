"""Every non-destructive tool, through a real MCP client in both eras, against the simulated Cliq on
loopback: the exact HTTP request that reached Cliq, and what the client received."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import api_calls
from mcp import Client
from simulated_cliq import Workspace

ALICE = "2890538000000012345"  # direct chat from the seed
BOB = "2890538000000067890"
Q2 = "2890538000000099999"  # "Q2 Product Review - Design, Engineering & QA", a group chat
ALICE_LAST = "1773813859592_51531973059"

# tool, arguments, (method, path, query, JSON body) expected on the wire, text the answer must contain
CASES: list[tuple[str, dict[str, Any], tuple[str, str, dict[str, str], Any], str]] = [
    ("list_chats", {"limit": 5, "pinned": True, "modified_after": "2024-01-01T00:00:00Z"},
     ("GET", "/api/v3/chats", {"limit": "5", "pinned": "true", "modified_after": "1704067200000"}, None),
     "pinned"),
    ("search_chats", {"name": "Q2", "chat_type": ["group_chat", "channel"], "sort_by": "recent"},
     ("GET", "/api/v3/chats/search",
      {"title": "Q2", "limit": "20", "chat_type": "group_chat,channel", "sort_by": "recent"}, None),
     "Q2 Product Review"),
    ("get_chat", {"chat_id": ALICE, "include": "last_message_info"},
     ("GET", f"/api/v3/chats/{ALICE}", {"include": "last_message_info"}, None), ALICE_LAST),
    ("list_chat_members", {"chat_id": Q2},
     ("GET", f"/api/v3/chats/{Q2}/members", {"fields": "user_id,email_id,name"}, None), "70027934"),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Launch"},
     ("POST", "/api/v3/chats", {},
      {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Launch"}), '"Launch"'),
    ("create_chat", {"chat_type": "direct_message", "user_id": "72589892"},
     ("POST", "/api/v3/chats", {}, {"chat_type": "direct_message", "user_id": "72589892"}), "direct_message"),
    ("mark_chats_read", {"chats": [{"chat_id": ALICE, "message_id": ALICE_LAST}]},
     ("PUT", "/api/v3/chats", {},
      {"operation": "read_status_update", "read_status": "read",
       "chats": [{"chat_id": ALICE, "last_message_id": ALICE_LAST}]}), "Marked read: 1"),
    ("clear_unread_counts", {"chat_ids": [ALICE, BOB]},
     ("PUT", "/api/v3/chats", {}, {"operation": "clear_unread", "chat_ids": [ALICE, BOB]}), "2 chat(s)"),
    ("rename_chat", {"chat_id": Q2, "title": "Quarterly Rewards"},
     ("PUT", f"/api/v3/chats/{Q2}", {}, {"operation": "update_title", "title": "Quarterly Rewards"}),
     '"Quarterly Rewards"'),
    ("set_chat_history", {"chat_id": Q2, "history_status": "disabled"},
     ("PUT", f"/api/v3/chats/{Q2}", {}, {"operation": "update_history_status", "history_status": "disabled"}),
     "disabled"),
    ("mark_chat_read", {"chat_id": ALICE, "message_id": ALICE_LAST},
     ("PUT", f"/api/v3/chats/{ALICE}", {}, {"operation": "mark_as_read", "last_message_id": ALICE_LAST}),
     "read up to"),
    ("mark_chat_unread", {"chat_id": ALICE, "message_id": ALICE_LAST},
     ("PUT", f"/api/v3/chats/{ALICE}", {}, {"operation": "mark_as_unread", "message_id": ALICE_LAST}),
     "unread from"),
    ("add_chat_members", {"chat_id": Q2, "user_ids": ["55743307", "55622727"]},
     ("POST", f"/api/v3/chats/{Q2}/members", {}, {"user_ids": ["55743307", "55622727"]}), "Added 2"),
    ("send_typing_activity", {"chat_id": ALICE},
     ("POST", f"/api/v3/chats/{ALICE}/activities", {}, {"action": "typing"}), "typing"),
    ("mute_chat", {"chat_id": Q2}, ("POST", f"/api/v3/chats/{Q2}/mute", {}, None), "Muted"),
    ("unmute_chat", {"chat_id": Q2}, ("POST", f"/api/v3/chats/{Q2}/unmute", {}, None), "Unmuted"),
]  # fmt: skip


@pytest.mark.era_independent
@pytest.mark.parametrize(("tool", "args", "wire", "text"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
async def test_tool_sends_exactly_the_documented_request(
    client: Client, workspace: Workspace, tool: str, args: dict[str, Any], wire: tuple[Any, ...], text: str
) -> None:
    result = await client.call_tool(tool, args)
    assert result.is_error is False, result.content
    method, path, query, body = wire
    calls = api_calls(workspace)
    assert len(calls) == 1
    sent = calls[0]
    assert (sent.method, sent.path, dict(sent.query), sent.json) == (method, path, query, body)
    if body is None:
        assert sent.body == b""
    assert sent.headers["authorization"] == "Zoho-oauthtoken sandbox-token"
    assert text in result.content[0].text
    assert result.structured_content


async def test_fork_sends_user_ids_as_one_csv_string(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool(
        "fork_chat", {"chat_id": ALICE, "message_id": ALICE_LAST, "title": "Follow-up", "user_ids": ["55743307"]}
    )
    assert result.is_error is False, result.content
    (sent,) = api_calls(workspace)
    assert (sent.method, sent.path) == ("POST", f"/api/v3/chats/{ALICE}/forks")
    assert sent.json == {
        "message_id": ALICE_LAST, "title": "Follow-up", "user_ids": "55743307", "include_participants": False,
    }  # fmt: skip
    new_chat = result.structured_content["chat"]
    assert new_chat["chat_type"] == "group_chat" and new_chat["chat_id"] != ALICE
    assert '"Follow-up"' in result.content[0].text


async def test_list_pages_with_next_token_until_the_end(client: Client, workspace: Workspace) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        args: dict[str, Any] = {"limit": 100}
        if token:
            args["next_token"] = token
        result = await client.call_tool("list_chats", args)
        assert result.is_error is False, result.content
        page = result.structured_content
        seen += [c["chat_id"] for c in page["chats"]]
        pages += 1
        token = page.get("next_token")
        if not token:
            assert result.content[0].text.endswith("End of list.")
            break
        assert f'next_token="{token}"' in result.content[0].text
    assert pages >= 3  # the sandbox holds a couple of hundred chats
    assert len(seen) == len(set(seen))
    first, *rest = api_calls(workspace)
    assert "next_token" not in dict(first.query)
    assert all(dict(r.query)["limit"] == "100" and dict(r.query)["next_token"] for r in rest)


async def test_list_answer_is_compact_lines_not_raw_json(client: Client) -> None:
    result = await client.call_tool("list_chats", {"limit": 3})
    text = result.content[0].text
    assert not text.lstrip().startswith("{") and "last_modified_time" not in text
    lines = text.splitlines()
    unknown = sum(c["unread"] is None for c in result.structured_content["chats"])
    assert unknown  # the first page of the document-shaped workspace: some counts are not in the list
    assert lines[0].startswith("3 chats") and len(lines) == 6 and lines[4].startswith("Unread ? (")
    assert sum(line.removesuffix(" muted").removesuffix(" pinned").endswith(" ?") for line in lines[1:4]) == unknown
    assert set(result.structured_content) == {"chats", "next_token", "complete", "why", "continue_with",
                                              "unread_unknown"}  # fmt: skip


async def test_get_chat_shows_quoted_last_message_and_unread(client: Client) -> None:
    result = await client.call_tool("get_chat", {"chat_id": ALICE, "include": "last_message_info"})
    chat = result.structured_content["chat"]
    assert chat["chat_id"] == ALICE and chat["name"] == "Alice Johnson"
    assert chat["last_message"]["message_id"] == ALICE_LAST
    assert '"Alice Johnson"' in result.content[0].text
    assert f'"{chat["last_message"]["text"]}"' in result.content[0].text


async def test_state_changes_are_visible_to_later_reads(client: Client) -> None:
    await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Renamed by test"})
    result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.structured_content["chat"]["name"] == "Renamed by test"
