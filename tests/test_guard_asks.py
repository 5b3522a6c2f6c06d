"""The guard asks only what can work, and only a JSON true is a yes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ALICE, Q2, Cliq, answering, writes
from mcp import Client
from mcp.types import ElicitRequestParams, TextContent
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

GENERAL = "6795000000000000001"  # the "General" channel

# Each is refused by Cliq after the fact (the notes): clearing a channel's history, leaving a direct chat,
# removing members from a direct chat.
IMPOSSIBLE: list[tuple[str, dict[str, Any], str]] = [
    ("clear_chat_history", {"chat_id": GENERAL}, "direct and group chats only"),
    ("leave_chat", {"chat_id": ALICE}, "not direct chats"),
    ("remove_chat_members", {"chat_id": ALICE, "user_ids": ["55743307"]}, "not direct chats"),
]


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.mark.parametrize(("tool", "args", "reason"), IMPOSSIBLE, ids=[i[0] for i in IMPOSSIBLE])
async def test_impossible_targets_are_refused_before_anyone_is_asked(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str, tool: str, args: dict[str, Any], reason: str
) -> None:
    seen: list[ElicitRequestParams] = []
    async with Client(
        cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True}, seen)
    ) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert "does not allow" in text(result) and reason in text(result)
    assert seen == []  # nobody was asked
    assert writes(workspace) == []


@pytest.mark.parametrize(("tool", "args", "reason"), IMPOSSIBLE, ids=[i[0] for i in IMPOSSIBLE])
async def test_impossible_targets_get_no_preview_or_token_either(
    cliq: Cliq, settings: Settings, workspace: Workspace, tool: str, args: dict[str, Any], reason: str
) -> None:
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error and "does not allow" in text(result)
    assert "confirmation_token" not in text(result)
    assert writes(workspace) == []


@pytest.mark.parametrize("answer", ["yes", "on", "true", 1, 1.0], ids=repr)
async def test_only_a_json_true_is_a_yes(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str, answer: Any
) -> None:
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": answer}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert len(seen) >= 1  # the person was asked
    assert result.is_error and "Nothing was changed" in text(result)
    assert writes(workspace) == []


async def test_a_json_true_still_acts(cliq: Cliq, settings: Settings, workspace: Workspace, era: str) -> None:
    callback = answering("accept", {"confirm": True})
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert not result.is_error, text(result)
    assert [(w.method, w.path, w.json) for w in writes(workspace)] == [
        ("PUT", f"/api/v3/chats/{Q2}", {"operation": "close_chat"})
    ]


async def test_a_long_batch_question_shows_every_chat_the_yes_covers(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    chats = workspace.my_chats()[:25]
    seen: list[ElicitRequestParams] = []
    callback = answering("decline", None, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chats", {"chat_ids": [c.chat_id for c in chats]})
    assert result.is_error and writes(workspace) == []
    lines = seen[0].message.splitlines()
    assert lines[0] == "Close 25 chats? They will be hidden from your recent chats."
    # Every chat the yes would cover, one line each: nothing is approved unseen.
    assert [line.split(" · ")[2] for line in lines[1:]] == [c.chat_id for c in chats]
    assert not any("more" in line for line in lines)


async def test_a_wrong_shape_answer_about_the_target_asks_nothing(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    # The question is built from Cliq's description of the chat: without its name nobody can be asked truly.
    nameless = {
        "type": "chat",
        "data": {
            "chat_id": Q2,
            "chat_type": "group_chat",
            "participant_count": 5,
            "last_modified_time": "2025-06-15T05:00:00Z",
            "unread_message_count": 0,
        },
    }
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{Q2}", kind="status", status=200, body=nameless))
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error and "missing data.name" in text(result)
    assert seen == [] and writes(workspace) == []


async def test_where_nobody_can_be_asked_the_answer_gives_this_very_call_for_a_terminal(
    cliq: Cliq, settings: Settings, workspace: Workspace
) -> None:
    async with Client(cliq.server(settings)) as client:  # no elicitation, and no browser (BROWSER=false)
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error and f"""cliq-mcp call close_chat '{{"chat_id": "{Q2}"}}'""" in text(result)
    assert writes(workspace) == []


async def test_a_batch_cut_short_keeps_the_yes_for_the_chats_not_sent(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    """Cliq throttles the second close of three: the third is not sent. The call for the rest (as the answer
    gives it) is not asked about again: the person already approved that chat, as it still is; its yes is used
    once. The throttled chat itself is asked about again."""
    from conftest import audit_lines, guarded

    chats = [c.chat_id for c in workspace.my_chats()[:3]]
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{chats[1]}", kind="status", status=429,
                           body={"code": "rate_limit_exceeded", "message": "Too many"}))  # fmt: skip
    seen: list[ElicitRequestParams] = []
    settings = guarded(cliq, tmp_path)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True},
                                                                                       seen)) as client:  # fmt: skip
        first = await client.call_tool("close_chats", {"chat_ids": chats})
        rest = first.structured_content["continue_with"]
        assert rest == {"chat_ids": [chats[2]]} and len(seen) == 1
        second = await client.call_tool("close_chats", rest)
        assert second.is_error is False and len(seen) == 1  # not asked again
        third = await client.call_tool("close_chats", {"chat_ids": [chats[1]]})  # the throttled one: asked
        assert third.is_error is False and len(seen) == 2
    assert [w.path.rsplit("/", 1)[1] for w in writes(workspace)] == [chats[0], chats[1], chats[2], chats[1]]
    confirmed = [line.get("confirmed_by") for line in audit_lines(tmp_path) if line["outcome"] == "acted"]
    assert confirmed == ["elicitation", "earlier yes", "elicitation"]
