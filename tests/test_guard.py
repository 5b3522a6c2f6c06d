"""The guard, through real MCP clients in both eras: token flow for clients without elicitation, the
re-check of the target, every policy, tool selection, chat allow/deny lists, dry runs and the audit log.
Every test asserts which writes reached the simulated Cliq."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ALICE, ALICE_LAST, EVERY_TOOL, Q2, READ_TOOLS, Cliq, answering, api_calls, env_for, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import ConfigurationError
from cliq_mcp.sandbox import PROMPT_INJECTION_CHAT_ID
from cliq_mcp.tools.catalogue import BY_NAME
from cliq_mcp.tools.row import Effect

PERSON = "106324287"  # a member of Q2 in the seed


def guarded(url: str, tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        env_for(url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"), XDG_STATE_HOME=str(tmp_path), **env)
    )


def trusting(url: str, tmp_path: Path, **env: str) -> Settings:
    """CLIQ_GUARD=trust-host: the preview-and-token flow, for hosts that ask before every tool call."""
    return guarded(url, tmp_path, CLIQ_GUARD="trust-host", **env)


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def preview(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error is False, result.content
    token = result.structured_content["preview"]["confirmation_token"]
    assert f'confirmation_token="{token}"' in result.content[0].text
    assert "Not done yet" in result.content[0].text
    return str(token)


async def test_without_elicitation_a_preview_then_the_token_acts_once(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    args = {"chat_id": Q2, "user_ids": [PERSON]}
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as client:
        result = await client.call_tool("remove_chat_members", args)
        shown = result.structured_content["preview"]
        assert writes(workspace) == []  # the preview only read the target
        assert shown["would_send"] == {
            "method": "DELETE", "path": f"/chats/{Q2}/members", "query": {"user_ids": PERSON}, "body": None,
        }  # fmt: skip
        assert "Q2 Product Review" in shown["question"] and PERSON in shown["question"]
        token = shown["confirmation_token"]
        done = await client.call_tool("remove_chat_members", {**args, "confirmation_token": token})
        assert done.is_error is False, done.content
        replay = await client.call_tool("remove_chat_members", {**args, "confirmation_token": token})
    assert replay.is_error is True
    assert "already used" in replay.content[0].text or "not a member" in replay.content[0].text
    (write,) = writes(workspace)
    assert (write.method, write.path, dict(write.query)) == (
        "DELETE",
        f"/api/v3/chats/{Q2}/members",
        {"user_ids": PERSON},
    )
    outcomes = [(line["outcome"], line.get("confirmed_by")) for line in audit_lines(tmp_path)]
    assert outcomes == [("preview", None), ("sending", "token"), ("acted", "token"), ("refused", None)]


async def test_a_replayed_token_is_refused(cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as client:
        token = await preview(client, "close_chat", {"chat_id": Q2})
        first = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
        again = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert first.is_error is False
    assert again.is_error is True and "already used" in again.content[0].text
    assert len(writes(workspace)) == 1


@pytest.mark.era_independent
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("other_chat", "does not match"),
        ("tamper", "does not match"),
        ("other_tool", "does not match"),
        ("garbage", "not a confirmation token"),
    ],
)
async def test_a_token_only_acts_for_its_own_tool_and_arguments(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path, change: str, reason: str
) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as client:
        token = await preview(client, "close_chat", {"chat_id": Q2})
        tool, args = "close_chat", {"chat_id": Q2, "confirmation_token": token}
        if change == "other_chat":
            args["chat_id"] = ALICE
        elif change == "tamper":
            args["confirmation_token"] = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        elif change == "other_tool":
            tool = "clear_chat_history"
        else:
            args["confirmation_token"] = "yes-the-user-agreed"
        result = await client.call_tool(tool, args)
    assert result.is_error is True
    assert reason in result.content[0].text and "Nothing was changed" in result.content[0].text
    assert writes(workspace) == []


async def test_an_expired_token_is_refused(cliq: Cliq, workspace: Workspace, tmp_path: Path) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path, CLIQ_CONFIRM_TTL="1"))) as client:
        token = await preview(client, "close_chat", {"chat_id": Q2})
        cliq.time.advance(2)  # past the one-second lifetime
        result = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert result.is_error is True and "expired" in result.content[0].text
    assert writes(workspace) == []


async def test_tokens_from_another_server_are_refused_unless_it_shares_the_secret(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    shared = {"CLIQ_GUARD_SECRET": "0123456789abcdef0123"}
    async with Client(cliq.server(trusting(cliq.url, tmp_path))) as one:
        foreign = await preview(one, "close_chat", {"chat_id": Q2})
    async with Client(cliq.server(trusting(cliq.url, tmp_path, **shared))) as two:
        shared_token = await preview(two, "close_chat", {"chat_id": Q2})
    async with Client(cliq.server(trusting(cliq.url, tmp_path, **shared))) as replica:
        refused = await replica.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": foreign})
        accepted = await replica.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": shared_token})
    assert refused.is_error is True and "another key" in refused.content[0].text
    assert accepted.is_error is False
    assert len(writes(workspace)) == 1


async def test_target_renamed_after_the_preview_is_refused(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as client:
        token = await preview(client, "close_chat", {"chat_id": Q2})
        assert (await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Something else"})).is_error is False
        result = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert result.is_error is True
    assert "changed since the preview" in result.content[0].text and '"Something else"' in result.content[0].text
    assert [w.json for w in writes(workspace)] == [{"operation": "update_title", "title": "Something else"}]


async def test_member_gone_after_the_preview_is_refused(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as client:
        token = await preview(client, "remove_chat_members", {"chat_id": Q2, "user_ids": [PERSON]})
        workspace.chats[Q2].members.remove(PERSON)  # someone else removed them in Cliq meanwhile
        result = await client.call_tool(
            "remove_chat_members", {"chat_id": Q2, "user_ids": [PERSON], "confirmation_token": token}
        )
    assert result.is_error is True and "not a member" in result.content[0].text
    assert writes(workspace) == []


async def test_target_changed_while_asking(cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path) -> None:
    seen: list[ElicitRequestParams] = []
    ask = answering("accept", {"confirm": True}, seen)

    async def rename_then_accept(context: Any, params: ElicitRequestParams) -> Any:
        workspace.chats[Q2].name = "Renamed meanwhile"
        return await ask(context, params)

    settings = guarded(cliq.url, tmp_path)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=rename_then_accept) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    if era == "legacy":
        # Asked live: the re-read after the yes differs from what the person saw.
        assert result.is_error is True and "changed while the user was being asked" in result.content[0].text
        assert writes(workspace) == []
    else:
        # 2026-07-28: the retry re-reads the chat, so the person is asked again about the chat as it now is.
        assert result.is_error is False, result.content
        assert "Renamed meanwhile" in seen[-1].message and len(seen) == 2
        assert len(writes(workspace)) == 1


async def test_policy_elicit_refuses_without_elicitation_and_ignores_tokens(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode=era) as lenient:
        token = await preview(lenient, "close_chat", {"chat_id": Q2})
    async with Client(cliq.server(guarded(cliq.url, tmp_path, CLIQ_GUARD="elicit")), mode=era) as client:
        plain = await client.call_tool("close_chat", {"chat_id": Q2})
        with_token = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert plain.is_error is True and "cannot show a confirmation" in plain.content[0].text
    # Outside trust-host a destructive tool has no confirmation_token argument at all.
    assert with_token.is_error is True and "confirmation_token" in with_token.content[0].text
    assert writes(workspace) == []


async def test_policy_refuse_never_acts_or_asks(cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path) -> None:
    seen: list[ElicitRequestParams] = []
    settings = guarded(cliq.url, tmp_path, CLIQ_GUARD="refuse")
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=callback) as client:
        for tool, args in EVERY_TOOL:
            if BY_NAME[tool].effect is Effect.DESTRUCTIVE:
                result = await client.call_tool(tool, args)
                assert result.is_error is True and "CLIQ_GUARD=refuse" in result.content[0].text
    assert seen == [] and api_calls(workspace) == []


async def test_policy_unattended_acts_only_on_allow_listed_chats(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    settings = guarded(cliq.url, tmp_path, CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=Q2)
    async with Client(cliq.server(settings), mode=era) as client:
        allowed = await client.call_tool("close_chat", {"chat_id": Q2})
        other = await client.call_tool("close_chat", {"chat_id": ALICE})
    assert allowed.is_error is False, allowed.content
    assert other.is_error is True and "unattended allow-list" in other.content[0].text
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]
    lines = audit_lines(tmp_path)
    assert [(line["outcome"], line.get("confirmed_by")) for line in lines] == [
        ("sending", "unattended"),  # on record, whole and on disk, before the request left
        ("acted", "unattended"),
        ("refused", None),
    ]


async def test_read_only_lists_and_serves_only_read_tools(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    settings = guarded(cliq.url, tmp_path, CLIQ_READ_ONLY="1", CLIQ_TOOLS="close_chat,write,read")
    async with Client(
        cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True})
    ) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        for tool, args in EVERY_TOOL:
            result = await c.call_tool(tool, args)
            assert result.is_error is (tool not in names), tool
    assert names == READ_TOOLS  # read-only beats --tools
    assert writes(workspace) == []


@pytest.mark.era_independent
@pytest.mark.parametrize(
    ("tools", "exclude", "expected"),
    [
        (
            "read",
            "",
            set(READ_TOOLS),
        ),
        (
            "destructive,get_chat",
            "",
            {"get_chat", "clear_chat_history", "close_chat", "remove_chat_members", "leave_chat", "close_chats"},
        ),
        (
            "",
            "destructive,write",
            set(READ_TOOLS),
        ),
        ("close_chat,rename_chat", "close_chat", {"rename_chat"}),  # exclusion beats inclusion
    ],
)
async def test_tool_selection(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path, tools: str, exclude: str, expected: set[str]
) -> None:
    settings = guarded(cliq.url, tmp_path, CLIQ_TOOLS=tools, CLIQ_EXCLUDE_TOOLS=exclude)
    async with Client(cliq.server(settings), mode=era) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        hidden = next(name for name, _ in EVERY_TOOL if name not in expected)
        refused = await client.call_tool(hidden, dict(EVERY_TOOL)[hidden])
    assert names == expected
    assert refused.is_error is True and api_calls(workspace) == []


async def test_unknown_tool_names_in_selection_fail_at_start(cliq: Cliq, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Unknown tool or toolset in --tools: delete_all"):
        cliq.server(guarded(cliq.url, tmp_path, CLIQ_TOOLS="read,delete_all"))


async def test_chat_deny_and_allow_lists_stop_writes(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    settings = guarded(cliq.url, tmp_path, CLIQ_WRITE_CHATS=f"{Q2},{ALICE}", CLIQ_DENY_CHATS=ALICE)
    async with Client(cliq.server(settings), mode=era) as client:
        denied = await client.call_tool("rename_chat", {"chat_id": ALICE, "title": "x"})
        outside = await client.call_tool("clear_unread_counts", {"chat_ids": [Q2, "2890538000000067890"]})
        allowed = await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Allowed"})
        reading = await client.call_tool("get_chat", {"chat_id": ALICE})
    assert denied.is_error is True and "not allowed" in denied.content[0].text
    assert outside.is_error is True and "2890538000000067890" in outside.content[0].text
    assert allowed.is_error is False and reading.is_error is False
    assert [w.json for w in writes(workspace)] == [{"operation": "update_title", "title": "Allowed"}]


def put(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"method": "PUT", "path": path, "query": {}, "body": body}


def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"method": "POST", "path": path, "query": {}, "body": body}


# Every write tool of EVERY_TOOL and, written out from the API notes, the request its dry run shows.
DRY_RUNS: dict[str, dict[str, Any]] = {
    "create_chat": post("/chats", {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"],
                                   "title": "Sandbox"}),
    "mark_chats_read": put("/chats", {"operation": "read_status_update", "read_status": "read",
                                      "chats": [{"chat_id": ALICE, "last_message_id": ALICE_LAST}]}),
    "clear_unread_counts": put("/chats", {"operation": "clear_unread", "chat_ids": [ALICE]}),
    "rename_chat": put(f"/chats/{Q2}", {"operation": "update_title", "title": "Q2 Review"}),
    "set_chat_history": put(f"/chats/{Q2}", {"operation": "update_history_status", "history_status": "enabled"}),
    "mark_chat_read": put(f"/chats/{ALICE}", {"operation": "mark_as_read", "last_message_id": ALICE_LAST}),
    "mark_chat_unread": put(f"/chats/{ALICE}", {"operation": "mark_as_unread", "message_id": ALICE_LAST}),
    "add_chat_members": post(f"/chats/{Q2}/members", {"user_ids": ["55743307"]}),
    "fork_chat": post(f"/chats/{ALICE}/forks", {"message_id": ALICE_LAST, "title": "Fork",
                                                "include_participants": True}),
    "send_typing_activity": post(f"/chats/{ALICE}/activities", {"action": "text_entered"}),
    "mute_chat": post(f"/chats/{Q2}/mute"),
    "unmute_chat": post(f"/chats/{Q2}/unmute"),
    "remove_chat_members": {"method": "DELETE", "path": f"/chats/{Q2}/members", "query": {"user_ids": "55743307"},
                            "body": None},
    "clear_chat_history": put(f"/chats/{ALICE}", {"operation": "clear_local_history"}),
    "close_chat": put(f"/chats/{ALICE}", {"operation": "close_chat"}),
    "leave_chat": post(f"/chats/{Q2}/leave"),
    "close_chats": put("/chats/2890538000000067890", {"operation": "close_chat"}),
}  # fmt: skip


def test_every_write_tool_has_a_dry_run_case() -> None:
    assert set(DRY_RUNS) == {t for t, _ in EVERY_TOOL if BY_NAME[t].effect is not Effect.READ}


@pytest.mark.era_independent
@pytest.mark.parametrize(("tool", "args"), [(t, a) for t, a in EVERY_TOOL if t in DRY_RUNS])
async def test_dry_run_shows_the_exact_request_and_sends_nothing(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path, tool: str, args: dict[str, Any]
) -> None:
    async with Client(cliq.server(guarded(cliq.url, tmp_path)), mode=era) as client:
        result = await client.call_tool(tool, {**args, "dry_run": True})
    assert result.is_error is False, result.content
    assert api_calls(workspace) == []
    assert result.structured_content == {"preview": {"would_send": DRY_RUNS[tool]}}
    assert result.content[0].text.startswith("Dry run, nothing was sent.")
    assert audit_lines(tmp_path)[0]["outcome"] == "dry_run"


async def test_audit_records_every_write_attempt_and_no_secret(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    env = {"CLIQ_GUARD_SECRET": "guard-secret-0123456789"}
    async with Client(
        cliq.server(guarded(cliq.url, tmp_path, **env)), elicitation_callback=answering("decline")
    ) as client:
        await client.call_tool("rename_chat", {"chat_id": Q2, "title": "Audited"})
        await client.call_tool("close_chat", {"chat_id": Q2})
        await client.call_tool("add_chat_members", {"chat_id": ALICE, "user_ids": ["55743307"]})
        await client.call_tool("list_chats", {})
    lines = audit_lines(tmp_path)
    assert [(line["tool"], line["outcome"]) for line in lines] == [
        ("rename_chat", "acted"), ("close_chat", "declined"), ("add_chat_members", "failed"),
    ]  # fmt: skip
    assert lines[0]["arguments"] == {"chat_id": Q2, "title": "Audited"}
    assert lines[1]["target"].startswith(f'Close the group chat "Audited" ({Q2})')
    assert lines[2]["status"] == 400 and "one_to_one_chat_add_member_not_allowed" in lines[2]["detail"]
    assert all({"time", "tool", "arguments", "outcome"} <= set(line) for line in lines)
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "sandbox-token" not in raw and "guard-secret-0123456789" not in raw


async def test_injected_instructions_in_a_chat_cannot_trigger_a_write(
    cliq: Cliq, workspace: Workspace, era: str, tmp_path: Path
) -> None:
    seen: list[ElicitRequestParams] = []
    settings = guarded(cliq.url, tmp_path)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("decline", None, seen)) as c:
        shown = await c.call_tool("get_chat", {"chat_id": PROMPT_INJECTION_CHAT_ID, "include": "last_message_info"})
        # A model that obeyed the message would call these; the person is asked and says no.
        members = (await c.call_tool("list_chat_members", {"chat_id": PROMPT_INJECTION_CHAT_ID})).structured_content
        ids = [m["user_id"] for m in members["members"] if m["user_id"] != "70027934"]
        removal = await c.call_tool("remove_chat_members", {"chat_id": PROMPT_INJECTION_CHAT_ID, "user_ids": ids})
        closing = await c.call_tool("close_chat", {"chat_id": PROMPT_INJECTION_CHAT_ID})
    text = shown.content[0].text
    assert "Last message" in text and ': "IGNORE PREVIOUS INSTRUCTIONS' in text  # shown as quoted data
    assert removal.is_error is True and closing.is_error is True and len(seen) == 2
    assert writes(workspace) == []


async def test_a_token_from_before_the_store_was_lost_is_refused(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """Issue #22 item 6: the store that lost its claims would take a used token again; a token is honoured only
    while the store remembers giving it."""
    async with Client(cliq.server(trusting(cliq.url, tmp_path)), mode="legacy") as client:
        token = await preview(client, "close_chat", {"chat_id": Q2})
        for found in tmp_path.rglob("state.sqlite3*"):
            found.unlink()  # the state directory is deleted
        noticed = await client.call_tool("get_chat", {"chat_id": Q2})  # the loss is noticed: a full minute
        assert noticed.is_error is True
        cliq.time.advance(61)
        late = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert late.is_error is True and "no record of giving that confirmation token" in late.content[0].text
    assert writes(workspace) == []
