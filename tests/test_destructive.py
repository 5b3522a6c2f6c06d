"""Destructive tools act only on a person's explicit yes, asked by elicitation in both eras."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Cliq, answering, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import Workspace

from cliq_mcp.core.config import Settings

Q2 = "2890538000000099999"
ALICE = "2890538000000012345"

# tool, arguments, the write it sends once confirmed (method, path, query, body), words of the question
DESTRUCTIVE: list[tuple[str, dict[str, Any], tuple[str, str, dict[str, str], Any], list[str]]] = [
    ("close_chat", {"chat_id": Q2}, ("PUT", f"/api/v3/chats/{Q2}", {}, {"operation": "close_chat"}),
     ["Close", "Q2 Product Review", Q2, "hidden from your recent chats"]),
    ("clear_chat_history", {"chat_id": ALICE},
     ("PUT", f"/api/v3/chats/{ALICE}", {}, {"operation": "clear_local_history"}),
     ["Clear", "Alice Johnson", ALICE, "history"]),
    ("remove_chat_members", {"chat_id": Q2, "user_ids": ["106324287", "70317945"]},
     ("DELETE", f"/api/v3/chats/{Q2}/members", {"user_ids": "106324287,70317945"}, None),
     ["Remove 2 members", "106324287", "70317945", "Q2 Product Review", Q2]),
    ("leave_chat", {"chat_id": Q2}, ("POST", f"/api/v3/chats/{Q2}/leave", {}, None),
     ["Leave", "Q2 Product Review", Q2, "lose access"]),
]  # fmt: skip
IDS = [d[0] for d in DESTRUCTIVE]


@pytest.mark.parametrize(("tool", "args", "wire", "words"), DESTRUCTIVE, ids=IDS)
async def test_accept_acts_once_after_asking_a_question_that_names_the_chat(
    cliq: Cliq,
    settings: Settings,
    workspace: Workspace,
    era: str,
    tool: str,
    args: dict[str, Any],
    wire: Any,
    words: list[str],
) -> None:
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error is False, result.content
    assert len(seen) == 1
    for word in words:
        assert word in seen[0].message, seen[0].message
    (write,) = writes(workspace)
    method, path, query, body = wire
    assert (write.method, write.path, dict(write.query), write.json) == (method, path, query, body)
    if body is None:
        assert write.body == b""


@pytest.mark.parametrize("answer", ["decline", "cancel", "accept-no"])
@pytest.mark.parametrize(("tool", "args", "wire", "words"), DESTRUCTIVE, ids=IDS)
async def test_anything_but_a_yes_changes_nothing(
    cliq: Cliq,
    settings: Settings,
    workspace: Workspace,
    era: str,
    answer: str,
    tool: str,
    args: dict[str, Any],
    wire: Any,
    words: list[str],
) -> None:
    callback = answering("accept", {"confirm": False}) if answer == "accept-no" else answering(answer)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error is True
    assert "Nothing was changed" in result.content[0].text
    assert writes(workspace) == []


async def test_removal_names_people_and_refuses_non_members(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    async with Client(
        cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True}, seen)
    ) as client:
        members = (await client.call_tool("list_chat_members", {"chat_id": Q2})).structured_content["members"]
        person = next(m for m in members if m["user_id"] != "70027934")
        result = await client.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": [person["user_id"]]})
        assert result.is_error is False, result.content
        assert person["name"] in seen[0].message and person["email"] in seen[0].message
        # The same person is no longer a member: a second removal is refused before asking.
        again = await client.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": [person["user_id"]]})
    assert again.is_error is True and "not a member" in again.content[0].text
    assert len(seen) == 1
    assert len(writes(workspace)) == 1


async def test_a_broken_elicitation_answer_changes_nothing(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    callback = answering("accept", {"unexpected": "shape"})
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is True and "Nothing was changed" in result.content[0].text
    assert writes(workspace) == []


async def test_a_removal_reads_the_chat_once_and_its_members_before_and_after_the_yes(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """Issue #21 (no read twice): the question is built from one read of the chat and of its members; right
    before acting only the members are read again (what the yes covers is the people). Nothing else is sent,
    in either era."""
    yes = answering("accept", {"confirm": True})
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as c:
        result = await c.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": ["106324287"]})
    assert result.is_error is False, result.content
    sent = [(r.method, r.path) for r in workspace.requests if r.path.startswith("/api/v3/")]
    chat, members = ("GET", f"/api/v3/chats/{Q2}"), ("GET", f"/api/v3/chats/{Q2}/members")
    delete = ("DELETE", members[1])
    # Both eras: the chat as read for the question stands (2026-07-28: kept in the store for the call that brings
    # the answer); the members, what the yes covers, are read again right before acting.
    assert sent == [chat, members, members, delete]


async def test_a_question_may_use_the_read_just_made_but_a_refusal_and_the_act_never_do(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """Issue #21 (the least requests): "who's in it, remove Ken" reads the members once for the list the model
    asked for, and the question is built from that read; right before acting they are read again. A read the
    call before made is never the ground for a refusal: someone added the person meanwhile, so the members are
    read again and the person is asked."""
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as c:
        await c.call_tool("list_chat_members", {"chat_id": Q2})
        ryan = "855727963"
        removed = await c.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": [ryan]})
        members = ("GET", f"/api/v3/chats/{Q2}/members")
        sent = [(r.method, r.path) for r in workspace.requests if r.path.startswith("/api/v3/")]
        # The list, the chat (for its name), the members right before acting, the removal: no read twice.
        assert sent == [members, ("GET", f"/api/v3/chats/{Q2}"), members, ("DELETE", f"/api/v3/chats/{Q2}/members")]
        await c.call_tool("list_chat_members", {"chat_id": Q2})
        workspace.chats[Q2].members.append(ryan)  # someone else adds Ryan back
        again = await c.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": [ryan]})
    assert removed.is_error is False and again.is_error is False, again.content
    assert len(seen) == 2 and ryan not in workspace.chats[Q2].members
