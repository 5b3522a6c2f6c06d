"""Every request every tool can send keeps to Zoho's document (tests/cliq_contract.json): each tool is called
with each of its arguments in turn, and every value an argument offers (each enum value, true and false),
against the simulated Cliq; what reached it is checked against the document. (Every other test of the suite
is held to the same check, and every answer the simulated Cliq gives is checked against the document's
response schemas: conftest.every_fault_fires_and_cliq_as_documented.)"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cliq_contract import answer_breaches, request_breaches
from conftest import ALICE, ALICE_LAST, EVERY_TOOL, Q2, Cliq, answering
from mcp import Client
from simulated_cliq import FakeTime, Workspace, observed

from cliq_mcp.tools.catalogue import BY_NAME, CATALOGUE
from cliq_mcp.tools.row import Effect
from cliq_mcp.tools.schema import json_schema

pytestmark = pytest.mark.era_independent  # what reaches Cliq lies below the protocol

BOB_DM = "2890538000000067890"
# A value for each argument that takes a free value; enums and booleans take each of theirs.
SAMPLES: dict[str, Any] = {
    "modified_after": "90d", "modified_before": "2025-06-01", "limit": 7, "name": "Review", "title": "Q2",
    "chat_ids": [ALICE, BOB_DM], "recipient": "106324287", "parent_chat_id": Q2, "next_token": None,
    "user_id": "106324287", "user_ids": ["55743307"], "message_id": ALICE_LAST, "last_message_id": ALICE_LAST,
    "inactive_days": 30, "unread_days": 7, "max_chats": 3, "query": "alice",
    "policy": "[limits]\nmax_acts = 3\n[exclude]\nmuted = true\n[close]\ninactive_days = 365\n",
}  # fmt: skip
# Arguments that only go with another (clear_unread_counts' filters go with all=true).
WITH = {("clear_unread_counts", name): {"all": True} for name in ("chat_type", "name", "next_token")}
NOT_ALONE = {("clear_unread_counts", "chat_ids"), ("create_chat", "user_id"), ("create_chat", "user_ids")}
# Values that bring arguments of their own: a direct chat takes one person, a group chat several and a title.
WHOLE = {("create_chat", "direct_message"): {"chat_type": "direct_message", "user_id": "106324287"}}


def variants() -> list[tuple[str, dict[str, Any]]]:
    """Each tool's valid call, then once more per argument and per value of it."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for tool, base in EVERY_TOOL:
        calls.append((tool, base))
        schema = json_schema(BY_NAME[tool].arguments, "validation")
        for name, spec in schema.get("properties", {}).items():
            if name in ("dry_run", "confirmation_token") or (tool, name) in NOT_ALONE:
                continue
            spec = spec.get("items", spec) if spec.get("type") == "array" and "enum" in spec.get("items", {}) else spec
            if "enum" in spec or "const" in spec:
                values: list[Any] = spec.get("enum", [spec.get("const")])
            elif spec.get("type") == "boolean":
                values = [True, False]
            elif SAMPLES.get(name) is not None:
                values = [SAMPLES[name]]
            else:
                continue
            if schema["properties"][name].get("type") == "array" and "enum" in spec:
                values = [[v] for v in values] + [values]
            for value in values:
                args = WHOLE.get((tool, value)) if isinstance(value, str) else None
                args = args or {**base, **WITH.get((tool, name), {}), name: value}
                if tool == "clear_unread_counts" and args.get("all"):
                    args.pop("chat_ids", None)
                calls.append((tool, args))
    return calls


VARIANTS = variants()


async def test_every_request_every_tool_can_send_keeps_to_zohos_document(fake_time: FakeTime) -> None:
    workspace = Workspace(rate_limits=False)  # every variant's requests reach it, none refused for pace
    cliq = Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time)
    accept = answering("accept", {"confirm": True})
    silent: list[str] = []
    async with Client(cliq.server(cliq.settings(CLIQ_PACING="off")), elicitation_callback=accept) as client:
        for tool, args in VARIANTS:
            before = len(workspace.requests)
            await client.call_tool(tool, args)
            sent = [r for r in workspace.requests[before:] if r.path.startswith("/api/v3/")]
            silent += [] if sent else [f"{tool} {json.dumps(args)}"]
            for r in sent:
                breaches = request_breaches(r.method, r.path, r.query, r.body)
                assert not breaches, f"{tool} {json.dumps(args)}: {breaches}"
    # Every variant sent something (but a tool that finds nothing to do for its arguments, and find_people, which
    # the v2 Users API answers: that API is not Chats v3's, so this document does not cover it).
    skipped = ("close_chats", "close_chat", "remove_chat_members", "find_people")
    assert not [s for s in silent if not s.startswith(skipped)], silent
    assert {tool for tool, _ in VARIANTS} == {op.name for op in CATALOGUE}
    assert len(VARIANTS) > 80


async def test_the_offered_chat_types_reach_cliq_as_its_list_takes_them(client: Client, workspace: Workspace) -> None:
    """The tools say chat_type in the chat object's words; GET /chats takes other words for them, and has no
    filter for group chats (this server keeps the group chats of each page and says so)."""
    sent = {}
    for kind in ("direct_message", "thread", "channel", "bot", "group_chat"):
        before = len(workspace.requests)
        result = await client.call_tool("list_chats", {"chat_type": kind})
        assert result.is_error is False, result.content[0].text
        (request,) = workspace.requests[before:]
        sent[kind] = dict(request.query).get("type")
        kinds = {c["chat_type"] for c in result.structured_content["chats"]}
        assert kinds == {kind}, (kind, kinds)  # every chat shown is of the type asked for
    assert sent == {"direct_message": "dm", "thread": "threads", "channel": "channel", "bot": "bot", "group_chat": None}
    text = result.content[0].text
    assert text.startswith(f"{len(result.structured_content['chats'])} group_chat chat(s), among the 100 of this page")
    assert result.structured_content["filtered_here"] == "group_chat" and "next_token" in result.structured_content


def test_the_contract_catches_what_the_document_does_not_allow() -> None:
    """The check itself: the mistakes this project once made are breaches, Zoho's own examples are not."""
    assert request_breaches("GET", "/api/v3/chats", [("type", "direct_message")], b"")
    assert request_breaches("GET", "/api/v3/chats", [("recipient", "ann@example.com")], b"")
    assert request_breaches("GET", "/api/v3/chats", [("limit", "101")], b"")
    assert request_breaches("GET", "/api/v3/chats", [("group", "true")], b"")
    assert request_breaches("PUT", f"/api/v3/chats/{Q2}", [], b'{"operation": "close_chat", "status": "closed"}')
    assert request_breaches("POST", f"/api/v3/chats/{Q2}/forks", [], b'{"message_id": "1", "title": "t", '
                            b'"user_ids": ["1"]}')  # fmt: skip
    assert request_breaches("DELETE", f"/api/v3/chats/{Q2}/members", [], b'{"user_ids": ["1"]}')
    assert not request_breaches("GET", "/api/v3/chats", [("type", "dm"), ("limit", "100"), ("next_token", "x")], b"")
    assert not request_breaches("PUT", "/api/v3/chats", [], b'{"operation": "clear_unread", "chat_ids": ["1"]}')
    listed = {"chats": [{"chat_id": "1", "muted": True}]}
    assert answer_breaches("GET", "/api/v3/chats", 200, json.dumps(listed).encode())
    both_shapes = {"chats": [
        {"chat_id": "1", "last_message_info": {"message_id": "1_2", "sender": "7", "content": {"text": "hi"},
                                               "time": "2025-04-10T14:30:00.000Z", "type": "text"}},
        {"chat_id": "2", "last_message_info": {"sender_id": "7", "message_type": "text", "text": "hi",
                                               "time": "2025-06-15T10:30:00+05:30", "styles": {"highlight": False}}},
        {"chat_id": "3"},
    ], "next_token": "t"}  # fmt: skip
    assert not answer_breaches("GET", "/api/v3/chats", 200, json.dumps(both_shapes).encode())
    assert answer_breaches("GET", "/api/v3/chats/search", 400, b'{"code": "x", "message": "y"}')  # search: nested
    assert not answer_breaches("PUT", f"/api/v3/chats/{Q2}", 204, b"")
    assert Effect.DESTRUCTIVE in {op.effect for op in CATALOGUE}
