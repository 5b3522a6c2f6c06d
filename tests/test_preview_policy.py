"""The `preview_policy` tool: what a housekeeping policy would do, shown in an assistant through a real MCP
session in both eras. Reads only."""

from __future__ import annotations

from conftest import api_calls, text, writes
from mcp import Client
from simulated_cliq import Fault, Workspace
from test_tidy import NIGHTLY, selected

from cliq_mcp.housekeeping.policy import example


async def test_it_shows_the_acts_the_policy_would_plan_and_sends_no_write(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("preview_policy", {"policy": NIGHTLY.format(most=20)})
    assert result.is_error is False, text(result)
    data = result.structured_content
    expected = selected(workspace, 20)
    assert [c["chat_id"] for c in data["chats"] if c.get("tool")] == expected
    assert all(c["tool"] == "close_chat" and c["arguments"] == {"chat_id": c["chat_id"]} for c in data["chats"]
               if c.get("tool"))  # fmt: skip
    # The run's limit is planned: that is all a run would do, so the preview stops there, complete.
    assert data["complete"] is True and data["limit_reached"] is True
    assert data["judged"] == [c.chat_id for c in workspace.my_chats()].index(expected[-1]) + 1
    assert "That is the run's limit" in text(result)
    assert all(f"close_chat · {chat}" in text(result) for chat in expected)
    assert "Nothing was changed" in text(result)
    assert writes(workspace) == []


async def test_every_chat_adds_the_chats_left_alone_with_why(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("preview_policy", {"policy": NIGHTLY.format(most=500), "every_chat": True})
    chats = {c["chat_id"]: c for c in result.structured_content["chats"]}
    assert set(chats) == {c.chat_id for c in workspace.my_chats()}
    pinned = next(c for c in workspace.my_chats() if c.pinned)
    assert chats[pinned.chat_id]["reason"] == "excluded: pinned" and "tool" not in chats[pinned.chat_id]


async def test_a_bad_policy_is_an_error_naming_the_line(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("preview_policy", {"policy": "[close]\ninactive_days = 90\nmax_act = 5\n"})
    assert result.is_error is True
    assert "line 3" in text(result) and "unknown key 'close.max_act'" in text(result)
    assert api_calls(workspace) == []


async def test_an_error_about_a_huge_key_stays_short(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("preview_policy", {"policy": f"[close]\ninactive_days = 9\n{'k' * 19_000} = 1\n"})
    assert result.is_error is True and "line 3" in text(result) and len(text(result)) < 1000


async def test_a_throttled_preview_says_so_and_continues_where_it_stopped(client: Client, workspace: Workspace) -> None:
    throttle = {"code": "rate_limit_exceeded", "message": "Too many requests"}
    policy = NIGHTLY.format(most=120)
    refused = Fault("GET", "/api/v3/chats", "status", status=429, body=throttle)
    # The first page is answered; the second is refused once: the answer is partial and says how to go on.
    workspace.inject(Fault("GET", "/api/v3/chats", "hook", then=lambda: workspace.inject(refused)))
    first = await client.call_tool("preview_policy", {"policy": policy})
    assert refused.taken == 1 and first.structured_content["complete"] is False
    assert first.structured_content["judged"] == 100 and "NOT complete" in text(first)
    again = first.structured_content["continue_with"]
    rest = await client.call_tool("preview_policy", {"policy": policy, **again})
    assert rest.structured_content["complete"] is True and rest.structured_content["limit_reached"] is True
    planned = [c["chat_id"] for answer in (first, rest) for c in answer.structured_content["chats"] if c.get("tool")]
    assert planned == selected(workspace, 120)  # no chat judged twice, none skipped; the limit counts across calls
    assert 0 < first.structured_content["planned"] < 120


async def test_the_shipped_example_policy_previews(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("preview_policy", {"policy": example()})
    assert result.is_error is False, text(result)
    assert result.structured_content["complete"] is True and result.structured_content["planned"] > 0
