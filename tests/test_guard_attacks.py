"""Attacks on the guard (security review): each test drives the server like the rest of the suite."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import ALICE, Q2, Cliq, answering, approve_with, env_for, writes
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult, InputRequiredResult, TextContent
from simulated_cliq import Fault, Workspace

from cliq_mcp.config import Settings

TASKBOT = "2890538000000077701"  # a bot chat in the seed
ANNOUNCEMENTS = "6795000000000000002"  # an open channel the caller has not joined


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def guarded(cliq: Cliq, tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"), XDG_STATE_HOME=str(tmp_path), **env)
    )


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []



# --- Impossible targets: asked about, then refused by Cliq -------------------------------------------------------

IMPOSSIBLE_BUT_ASKED: list[tuple[str, dict[str, Any]]] = [
    # Cliq treats a bot chat as one-to-one: it cannot be left and has no members to remove.
    ("leave_chat", {"chat_id": TASKBOT}),
    ("remove_chat_members", {"chat_id": TASKBOT, "user_ids": ["70027934"]}),
    # A channel the caller has not joined refuses every change (403); list_chats would have said so.
    ("leave_chat", {"chat_id": ANNOUNCEMENTS}),
    ("close_chat", {"chat_id": ANNOUNCEMENTS}),
]


@pytest.mark.parametrize(("tool", "args"), IMPOSSIBLE_BUT_ASKED, ids=lambda v: v if isinstance(v, str) else v["chat_id"])
async def test_impossible_targets_are_refused_before_asking(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str, tool: str, args: dict[str, Any]
) -> None:
    seen: list[ElicitRequestParams] = []
    callback = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode=era, elicitation_callback=callback) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert seen == [], f"the person was asked to approve what Cliq then refused: {text(result)}"
    assert writes(workspace) == []


# --- The 2026-07-28 approval page: the question on the page is not the one acted on --------------------------------


async def test_2026_page_approval_is_refused_when_the_target_changed_between_the_rounds(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    shown: list[str] = []

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        async with httpx.AsyncClient() as person:
            page = await person.get(params.url)  # type: ignore[union-attr]
            shown.append(page.text)
            # Someone else renames the chat while the person reads the page (chat contents are other people's).
            workspace.chats[Q2].name = "Board - confidential"
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            origin = "/".join(params.url.split("/", 3)[:3])  # type: ignore[union-attr]
            await person.post(params.url, data={"csrf": csrf.group(1), "decision": "approve"},  # type: ignore[arg-type]
                              headers={"Origin": origin})
        return ElicitResult(action="accept")

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto", elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert "Q2 Product Review" in shown[0] and "Board - confidential" not in shown[0]
    # The person approved closing "Q2 Product Review ..."; the chat is now another one as far as they know.
    # The handshake era and form elicitation refuse (or ask again) here; the 2026 page round must too.
    assert result.is_error is True, f"acted on a question the person never saw: {text(result)}"
    assert writes(workspace) == []


# --- Handshake-era URL elicitation: a late accept acts long after CLIQ_CONFIRM_TTL ---------------------------------


async def test_legacy_url_elicitation_answered_late_does_not_act_after_the_ttl(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    ttl = 1.0

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        async with httpx.AsyncClient() as person:
            await approve_with(person, params.url)  # type: ignore[arg-type]
        await anyio.sleep(ttl + 1.0)  # the host returns its "accept" only later (e.g. when its dialog closes)
        return ElicitResult(action="accept")

    settings = guarded(cliq, tmp_path, CLIQ_CONFIRM_TTL=str(ttl))
    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=host) as client:
        started = anyio.current_time()
        result = await client.call_tool("close_chat", {"chat_id": Q2})
        took = anyio.current_time() - started
    assert took > ttl
    assert result.is_error is True, f"acted {took:.1f} s after asking, CLIQ_CONFIRM_TTL={ttl}: {text(result)}"
    assert writes(workspace) == []


# --- The audit log: a write that reached Cliq and was then cancelled leaves no line ---------------------------------


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_a_cancelled_batch_that_already_wrote_is_audited(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    batch = [c.chat_id for c in workspace.my_chats()[:3]]
    # The third close hangs in Cliq; the host gives up on the call (user pressed stop / request timeout).
    stall = workspace.inject(Fault("PUT", f"/api/v3/chats/{batch[2]}", "stall"))
    callback = answering("accept", {"confirm": True})
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode=era, elicitation_callback=callback) as client:
        with anyio.move_on_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "close_chats", {"chat_ids": batch})
                while len(writes(workspace)) < 3:
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()  # the client cancels the call
        await anyio.sleep(0.2)
    assert stall.abandoned == 1  # the server's handler was cancelled while the third close was in flight
    assert len(writes(workspace)) == 3  # two chats were closed in Cliq, the third was in flight
    lines = audit_lines(tmp_path)
    assert [line["tool"] for line in lines] == ["close_chats"], f"writes reached Cliq, audit log holds {lines}"
