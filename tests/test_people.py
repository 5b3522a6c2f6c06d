"""People by name or email (the v2 Users API, or chats and members when it is refused), emails in user id
arguments resolved before anything is sent, names next to ids, times as people write them, and every
argument described for the model."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from conftest import ALICE, Q2, Cliq, answering, api_calls, writes
from mcp import Client
from simulated_cliq import FakeTime, Fault, Workspace, observed

from cliq_mcp.sandbox import ALL_SCOPES
from cliq_mcp.tools.catalogue import CATALOGUE

ALICE_ID, BOB_ID, CAROL_ID, DEV_ID = "106324287", "70317945", "72589892", "55743307"
BOB_DM = "2890538000000067890"
DAY_MS = 86_400_000


def users_calls(workspace: Workspace) -> list[Any]:
    return [r for r in workspace.requests if r.path == "/api/v2/users"]


def chats_only(fake_time: FakeTime) -> tuple[Cliq, Workspace]:
    """A Cliq whose token has the chat scopes only: the Users API answers 403."""
    workspace = Workspace(access_tokens={"sandbox-token": ALL_SCOPES})
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time), workspace


async def test_find_by_name_from_the_users_api(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("find_people", {"query": "alice"})
    assert result.is_error is False, result.content
    assert result.structured_content == {
        "people": [{"user_id": ALICE_ID, "name": "Alice Johnson", "email": "alice.johnson@zylker.com"}],
        "source": "Cliq's Users API",
        "complete": True,
    }  # fmt: skip
    assert "from Cliq's Users API" in result.content[0].text and "exact name" not in result.content[0].text
    (asked,) = users_calls(workspace)
    assert dict(asked.query) == {"search": "alice", "limit": "10"}
    assert api_calls(workspace) == []  # the Users API answered: your chats are not searched too


async def test_a_whole_name_is_marked_exact(client: Client) -> None:
    result = await client.call_tool("find_people", {"query": "alice johnson"})
    assert result.structured_content["people"][0]["exact"] is True
    assert result.content[0].text.splitlines()[1].endswith("· exact name")


async def test_find_by_email_from_the_users_api(client: Client) -> None:
    result = await client.call_tool("find_people", {"query": "bob.carter@zylker.com"})
    assert result.structured_content is not None
    assert result.structured_content["people"] == [
        {"user_id": BOB_ID, "name": "Bob Carter", "email": "bob.carter@zylker.com"}
    ]


async def test_a_name_many_people_share_lists_them_all(client: Client) -> None:
    result = await client.call_tool("find_people", {"query": "an"})
    assert result.structured_content is not None
    names = [p["name"] for p in result.structured_content["people"]]
    assert len(names) >= 2 and "Ryan West" in names
    assert all(p["user_id"] for p in result.structured_content["people"])


async def test_unknown_person_is_no_one_found(client: Client) -> None:
    result = await client.call_tool("find_people", {"query": "Nobody Anywhere"})
    assert result.is_error is False
    assert result.structured_content == {"people": [], "source": "Cliq's Users API", "complete": True}
    assert "No one found" in result.content[0].text


async def test_without_the_users_scope_people_are_found_through_chats(fake_time: FakeTime) -> None:
    cliq, workspace = chats_only(fake_time)
    async with Client(cliq.server(cliq.settings())) as client:
        by_name = await client.call_tool("find_people", {"query": "Alice Johnson"})
        by_email = await client.call_tool("find_people", {"query": "carol.diaz@zylker.com"})
    assert by_name.structured_content is not None and by_email.structured_content is not None
    # It says why, and how to add the scope.
    assert "lacks ZohoCliq.Users.READ" in by_name.structured_content["source"]
    assert "cliq-mcp auth" in by_name.content[0].text
    assert by_name.structured_content["people"] == [
        {"user_id": ALICE_ID, "name": "Alice Johnson", "email": "alice.johnson@zylker.com", "chat_id": ALICE,
         "exact": True}
    ]  # fmt: skip
    (carol,) = by_email.structured_content["people"]
    assert (carol["user_id"], carol["name"], carol["email"]) == (CAROL_ID, "Carol Diaz", "carol.diaz@zylker.com")
    # Refused once (403), then not asked again by this process.
    assert len(users_calls(workspace)) == 1
    assert all(r.method == "GET" for r in api_calls(workspace))


async def test_extra_param_found_means_the_chats_answer(cliq: Cliq, workspace: Workspace) -> None:
    body = {"code": "extra_param_found", "message": "Extra parameter found: search"}
    workspace.inject(Fault(method="GET", path_prefix="/api/v2/users", kind="status", status=400, body=body))
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool("find_people", {"query": "bob"})
    assert result.structured_content is not None
    assert "does not offer the Users API" in result.structured_content["source"]
    assert {"user_id": BOB_ID, "name": "Bob Carter", "email": "bob.carter@zylker.com", "chat_id": BOB_DM} in (
        result.structured_content["people"]
    )


async def test_emails_in_create_chat_reach_cliq_as_user_ids(client: Client, workspace: Workspace) -> None:
    args = {"chat_type": "group_chat", "title": "Launch", "user_ids": ["alice.johnson@zylker.com", BOB_ID,
                                                                       "Carol.Diaz@zylker.com"]}  # fmt: skip
    result = await client.call_tool("create_chat", args)
    assert result.is_error is False, result.content
    (created,) = writes(workspace)
    assert created.json == {"chat_type": "group_chat", "title": "Launch", "user_ids": [ALICE_ID, BOB_ID, CAROL_ID]}


async def test_an_email_in_add_chat_members_is_resolved_and_named(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("add_chat_members", {"chat_id": "1424358626334691820",
                                                         "user_ids": ["alice.johnson@zylker.com"]})  # fmt: skip
    assert result.is_error is False, result.content
    (added,) = writes(workspace)
    assert added.json == {"user_ids": [ALICE_ID]}
    assert f'"Alice Johnson" ({ALICE_ID})' in result.content[0].text


async def test_emails_resolve_through_chats_without_the_users_scope(fake_time: FakeTime) -> None:
    cliq, workspace = chats_only(fake_time)
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool(
            "create_chat", {"chat_type": "direct_message", "user_id": "dev.patel@zylker.com"}
        )
    assert result.is_error is False, result.content
    (created,) = writes(workspace)
    assert created.json == {"chat_type": "direct_message", "user_id": DEV_ID}


async def test_an_unknown_email_sends_nothing_and_names_candidates(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("add_chat_members", {"chat_id": Q2, "user_ids": ["alice@zylker.com"]})
    assert result.is_error is True
    text = result.content[0].text
    assert "no one with the email alice@zylker.com" in text
    assert f"Alice Johnson <alice.johnson@zylker.com> ({ALICE_ID})" in text
    assert "find_people" in text
    assert writes(workspace) == []


async def test_an_ambiguous_email_sends_nothing_and_lists_both(cliq: Cliq, workspace: Workspace) -> None:
    twins = {"data": [{"id": "111", "name": "Sam One", "email_id": "sam@zylker.com"},
                      {"id": "222", "name": "Sam Two", "email_id": "SAM@zylker.com"}]}  # fmt: skip
    workspace.inject(Fault(method="GET", path_prefix="/api/v2/users", kind="status", status=200, body=twins))
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool("fork_chat", {"chat_id": ALICE, "message_id": "1773813859592_51531973059",
                                                      "title": "F", "user_ids": ["sam@zylker.com"]})  # fmt: skip
    assert result.is_error is True
    assert "sam@zylker.com is ambiguous" in result.content[0].text
    assert "Sam One <sam@zylker.com> (111)" in result.content[0].text and "(222)" in result.content[0].text
    assert writes(workspace) == []


async def test_removed_members_are_named_from_the_guards_read(cliq: Cliq, workspace: Workspace) -> None:
    callback = answering("accept", {"confirm": True})
    async with Client(cliq.server(cliq.settings()), elicitation_callback=callback) as client:
        result = await client.call_tool("remove_chat_members", {"chat_id": Q2, "user_ids": ["bob.carter@zylker.com"]})
    assert result.is_error is False, result.content
    (removed,) = writes(workspace)
    assert dict(removed.query) == {"user_ids": BOB_ID}
    assert f'Removed 1 member(s) in chat {Q2}: "Bob Carter" ({BOB_ID}).' == result.content[0].text


async def test_last_message_sender_is_named_from_the_chat_itself(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("get_chat", {"chat_id": BOB_DM, "include": "last_message_info"})
    assert f'from "Bob Carter" ({BOB_ID})' in result.content[0].text
    assert result.structured_content is not None
    assert result.structured_content["chat"]["last_message"]["sender_name"] == "Bob Carter"
    assert len(api_calls(workspace)) == 1  # no request only for the name


@pytest.mark.era_independent
async def test_relative_and_iso_times_reach_cliq_as_epoch_ms(client: Client, workspace: Workspace) -> None:
    before = int(time.time() * 1000)
    await client.call_tool("list_chats", {"modified_after": "90d", "modified_before": "2h"})
    after = int(time.time() * 1000)
    await client.call_tool("search_chats", {"modified_after": "2025-01-31", "modified_before": 1738400000000})
    listed, searched = api_calls(workspace)
    sent = dict(listed.query)
    assert before - 90 * DAY_MS <= int(sent["modified_after"]) <= after - 90 * DAY_MS
    assert before - 2 * 3_600_000 <= int(sent["modified_before"]) <= after - 2 * 3_600_000
    assert dict(searched.query)["modified_after"] == "1738281600000"  # 2025-01-31T00:00:00Z
    assert dict(searched.query)["modified_before"] == "1738400000000"


def _undescribed(schema: dict[str, Any], where: str) -> list[str]:
    missing: list[str] = []
    for name, definition in schema.get("$defs", {}).items():
        missing += _undescribed(definition, f"{where}.$defs.{name}")
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("description"):
            missing.append(f"{where}.{name}")
    return missing


def test_every_input_property_has_a_description() -> None:
    from cliq_mcp.tools.schema import json_schema

    missing = [m for op in CATALOGUE for m in _undescribed(json_schema(op.arguments_with_token, "validation"), op.name)]
    assert missing == []


async def test_as_many_people_as_the_limit_says_there_may_be_more(client: Client) -> None:
    cut = await client.call_tool("find_people", {"query": "a", "limit": 2})
    assert cut.structured_content is not None and len(cut.structured_content["people"]) == 2
    assert cut.structured_content["complete"] is False and cut.structured_content["why"] == "limit reached"
    assert "Maybe more: this is the limit (2)" in cut.content[0].text
    whole = await client.call_tool("find_people", {"query": "Alice Johnson", "limit": 50})
    assert whole.structured_content is not None and whole.structured_content["complete"] is True


async def test_members_cliq_would_not_give_now_make_no_one_found_a_maybe(fake_time: FakeTime) -> None:
    # Without the Users API, people are found in chats' member lists; a list Cliq throttled was not looked at:
    # the answer is "not complete", never a flat "no one found".
    cliq, workspace = chats_only(fake_time)
    async with Client(cliq.server(cliq.settings())) as client:
        found = await client.call_tool("find_people", {"query": "Tim", "limit": 50})
        rosters = [r.path for r in workspace.requests if r.path.endswith("/members")]
        workspace.inject(Fault(method="GET", path_prefix=rosters[0], kind="status", status=429,  # the first one read
                               body={"code": "rate_limit_exceeded", "message": "Rate limit exceeded."},
                               headers={"Retry-After": "60"}))  # fmt: skip
        missed = await client.call_tool("find_people", {"query": "Tim", "limit": 50})
    assert found.structured_content is not None and found.structured_content["complete"] is True
    assert found.structured_content["people"], found.content  # Tim is a member of a recent group chat
    assert missed.structured_content is not None and missed.structured_content["complete"] is False
    assert "could not be read now" in missed.structured_content["why"]
    assert "Not complete" in missed.content[0].text and "No one found in" not in missed.content[0].text
