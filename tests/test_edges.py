"""The exact edges of what the guard, the summaries and the policy judge decide: each test pins down one
behaviour a one-character change in the code would break (scripts/mutants.py makes such changes and expects
these tests to fail)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import ALICE, Q2, Cliq, guarded, text, writes
from mcp import Client
from simulated_cliq import Fault, Workspace

from cliq_mcp.housekeeping.plan import recheck
from cliq_mcp.housekeeping.policy import Facts, parse_policy
from cliq_mcp.serve.server import runtime
from cliq_mcp.tools.catalogue import BY_NAME

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


def facts(**given: object) -> Facts:
    known = {"chat_id": "1", "name": "Design sync", "chat_type": "group_chat", "members": 3,
             "last_active": NOW - timedelta(days=400), "pinned": False, "muted": False, "unread": 0,
             "last_message_id": "1_2"}  # fmt: skip
    return Facts(**{**known, **given})  # type: ignore[arg-type]


def test_inactive_days_counts_whole_days_and_no_more() -> None:
    policy = parse_policy(b"[close]\ninactive_days = 90\n", "p.toml")
    exactly = facts(last_active=NOW - timedelta(days=90))
    just_over = facts(last_active=NOW - timedelta(days=90, seconds=1))
    assert policy.judge(exactly, NOW).action is None  # 90 days is not more than 90 days
    assert policy.judge(just_over, NOW).action == "close"


def test_members_bounds_are_inclusive() -> None:
    policy = parse_policy(b"[close]\ninactive_days = 30\nmin_members = 2\nmax_members = 4\n", "p.toml")
    assert [policy.judge(facts(members=n), NOW).action for n in (1, 2, 4, 5)] == [None, "close", "close", None]


def test_a_chat_whose_pinned_state_is_not_told_is_never_acted_on() -> None:
    policy = parse_policy(b"[close]\ninactive_days = 30\n", "p.toml")  # [exclude] pinned = true by default
    verdict = policy.judge(facts(pinned=None), NOW)
    assert verdict.action is None and verdict.needs == "pinned state (pinned)"
    assert policy.judge(facts(pinned=False), NOW).action == "close"
    assert policy.judge(facts(pinned=True), NOW).reason == "excluded: pinned"


async def test_clearing_every_chat_is_refused_while_a_deny_list_is_set(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    settings = guarded(cliq, tmp_path, CLIQ_DENY_CHATS=ALICE)  # a deny list alone, no allow list
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("clear_unread_counts", {"all": True})
    assert result.is_error is True and "all=true is not allowed" in text(result)
    assert writes(workspace) == []


async def test_a_batch_cut_by_a_throttle_is_not_complete_and_names_the_rest(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    settings = guarded(cliq, tmp_path, CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=f"{Q2},{ALICE}")
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{Q2}", kind="status", status=429,
                           body={"code": "rate_limit_exceeded", "message": "Too many"}))  # fmt: skip
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("close_chats", {"chat_ids": [Q2, ALICE]})
    data = result.structured_content
    assert data["complete"] is False and data["continue_with"] == {"chat_ids": [ALICE]}
    assert f'chat_ids=["{ALICE}"]' in text(result) and [w.path for w in writes(workspace)] == [f"/api/v3/chats/{Q2}"]


async def test_the_recheck_before_an_act_refuses_a_chat_now_due_for_another_action(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """Planned for mark_read; read again right before the act, the chat is now due for close (the first action
    that applies): the act is refused, it is not marked read."""
    chat = workspace.chats[Q2]
    policy = parse_policy(b'[close]\ninactive_days = 30\nnames = ["Q2*"]\n[mark_read]\n', "p.toml")
    parts = runtime(guarded(cliq, tmp_path), transport=cliq.transport, sleep=cliq.time.sleep, clock=cliq.time)

    async def check() -> tuple[str, str | None]:
        try:
            return await recheck(policy, "mark_read", chat.chat_id, parts.client, BY_NAME, datetime.now(timezone.utc))
        finally:
            await parts.aclose()

    why, name = await check()
    assert why.startswith("now due for close, not mark_read") and name and name.startswith("Q2")


async def test_odd_ids_and_text_that_is_not_unicode_are_refused_as_input(client: Client, workspace: Workspace) -> None:
    for chat_id in ("-0", "1e3", "12/34", "CT_"):
        result = await client.call_tool("get_chat", {"chat_id": chat_id})
        assert result.is_error is True and "is not a chat id" in text(result), chat_id
    surrogate = await client.call_tool("list_chats", {"name": "\ud800abc"})
    assert surrogate.is_error is True and "not valid Unicode" in text(surrogate)
    assert [r for r in workspace.requests if r.path.startswith("/api/")] == []


@pytest.mark.parametrize(
    ("said", "told"),
    [
        ("1e309", "Do not retry it now."),  # float() made it inf
        ("inf", "Do not retry it now."),
        ("NaN", "Do not retry it now."),
        ("-1", "Do not retry it now."),
        ("-0", "Do not retry it now."),  # was "Retry after -0 s."
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Do not retry it now."),
        ("9" * 400, "Retry after 86400 s."),  # a number of seconds, but beyond a day: a day
        ("90", "Retry after 90 s."),
    ],
)
async def test_an_absurd_retry_after_is_not_passed_on(
    client: Client, workspace: Workspace, said: str, told: str
) -> None:
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=429,
                           body={"code": "rate_limit_exceeded", "message": "Too many"},
                           headers={"Retry-After": said}))  # fmt: skip
    result = await client.call_tool("list_chats", {})
    assert result.is_error is True and told in text(result) and "10 minutes" in text(result)
    assert not re.search(r"(?i)\binf|\bnan\b|-[01]\b|e\+", text(result)), text(result)  # no wait read wrong
