"""Attacks on the guard (security review), driving the server like the rest of the suite.

Failing tests are holes found (each passes once fixed): impossible targets (bot chats, unjoined channels) are asked
about; a 2026-07-28 approval-page round acts on a target that changed after the page was shown; a handshake-era URL
elicitation accepted late acts after CLIQ_CONFIRM_TTL; a write cancelled after it reached Cliq leaves no audit line;
the one-time page URL is logged when the host's URL elicitation fails; a chat name can spoof a batch line's details
on the page. Passing tests are attacks the guard withstood that the suite did not cover yet.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import ALICE, Q2, Cliq, answering, api_calls, approve_with, audit_lines, guarded, text, writes
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult, InputRequiredResult
from simulated_cliq import Fault, Workspace

TASKBOT = "2890538000000077701"  # a bot chat in the seed
ANNOUNCEMENTS = "6795000000000000002"  # an open channel the caller has not joined


# --- Impossible targets: asked about, then refused by Cliq -------------------------------------------------------

IMPOSSIBLE_BUT_ASKED: list[tuple[str, dict[str, Any]]] = [
    # Cliq treats a bot chat as one-to-one: it cannot be left and has no members to remove.
    ("leave_chat", {"chat_id": TASKBOT}),
    ("remove_chat_members", {"chat_id": TASKBOT, "user_ids": ["70027934"]}),
    # Not here: a channel the caller has not joined (the simulation refuses changes with 403). Cliq's chat
    # object says nothing of membership, so telling would cost a list request per question; the notes are
    # silent on what Cliq does there, and Cliq's refusal comes before anything changes.
]


@pytest.mark.parametrize(
    ("tool", "args"), IMPOSSIBLE_BUT_ASKED, ids=lambda v: v if isinstance(v, str) else v["chat_id"]
)
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
            await person.post(
                params.url,
                data={"csrf": csrf.group(1), "decision": "approve"},  # type: ignore[arg-type]
                headers={"Origin": origin},
            )
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
        cliq.time.advance(ttl + 1.0)  # the host returns its "accept" only later (e.g. when its dialog closes)
        return ElicitResult(action="accept")

    settings = guarded(cliq, tmp_path, CLIQ_CONFIRM_TTL=str(ttl))
    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is True, f"acted after CLIQ_CONFIRM_TTL={ttl}: {text(result)}"
    assert "expired" in text(result)
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
        with anyio.fail_after(10):  # a safety net only: the server notices the cancellation at once
            while not audit_lines(tmp_path):
                await anyio.sleep(0.01)
    assert stall.abandoned == 1  # the server's handler was cancelled while the third close was in flight
    assert len(writes(workspace)) == 3  # two chats were closed in Cliq, the third was in flight
    lines = audit_lines(tmp_path)
    assert [(line["tool"], line["outcome"]) for line in lines] == [
        ("close_chats", "sending"),
        ("close_chats", "cancelled"),
    ]
    assert "may have been applied" in lines[1]["detail"] and lines[0]["act"] == lines[1]["act"]


# --- The one-time URL reaches a log line when the host's URL elicitation fails ------------------------------------


async def test_the_page_url_is_not_logged_when_the_hosts_url_elicitation_fails(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None, caplog: pytest.LogCaptureFixture
) -> None:
    urls: list[str] = []

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        urls.append(params.url)  # type: ignore[union-attr, arg-type]
        raise RuntimeError(f"could not open {params.url}")  # type: ignore[union-attr]  # a host's own error text

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="legacy", elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is True and writes(workspace) == []
    secret = urls[0].rsplit("/", 1)[-1]
    formatter = logging.Formatter()

    def logged(record: logging.LogRecord) -> str:
        return record.getMessage() + (formatter.formatException(record.exc_info) if record.exc_info else "")

    ours = [r for r in caplog.records if r.name.startswith(("cliq_mcp", "mcp.server"))]  # not the client's own log
    leaked = [f"{r.name} {r.levelname}: {logged(r)}" for r in ours if r.levelno >= logging.INFO and secret in logged(r)]
    assert not leaked, f"the one-time URL was logged: {leaked[0][-300:]}"
    # And the model is told something true: nothing was asked or done, not "may or may not have been applied".
    assert "may or may not have been applied" not in text(result)


# --- Page rendering: a chat name can push a fake id into the details ------------------------------------------------


async def test_a_batch_line_on_the_page_keeps_the_whole_chat_name_as_the_name(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    target = workspace.my_chats()[0]
    # Chat names are written by other people: this one imitates the "name · type · id" layout of a batch line.
    target.name = f"Old lunch thread · group chat · {ALICE} · last active 2019-01-01"
    pages: list[str] = []

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        async with httpx.AsyncClient() as person:
            pages.append((await person.get(params.url)).text)  # type: ignore[arg-type]
        return ElicitResult(action="decline")

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="legacy", elicitation_callback=host) as client:
        await client.call_tool("close_chats", {"chat_ids": [target.chat_id, ALICE]})
    (first,) = re.findall(r'<li><span class="what">(.*?)</span>', pages[0])[:1]
    assert "Old lunch thread" in first and "last active 2019-01-01" in first, (
        f"the page shows the name as {first!r} and the rest of the name as the chat's details"
    )


# --- Attacks the guard withstood (coverage the rest of the suite does not have) ------------------------------------


async def test_a_2026_page_round_replayed_or_raced_acts_once(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    args = {"chat_id": Q2}

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept")

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto", elicitation_callback=host) as client:
        asked = await client.session.call_tool("close_chat", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        (request,) = asked.input_requests.values()
        async with httpx.AsyncClient() as person:
            await approve_with(person, request.params.url)  # type: ignore[union-attr, arg-type]
        yes = {key: ElicitResult(action="accept") for key in asked.input_requests}
        results: list[Any] = []

        async def retry() -> None:
            results.append(await client.call_tool("close_chat", args, input_responses=yes,
                                                  request_state=asked.request_state))  # fmt: skip

        async with anyio.create_task_group() as tg:  # two retries at once, then a third one later
            tg.start_soon(retry)
            tg.start_soon(retry)
        await retry()
    assert sorted(r.is_error for r in results) == [False, True, True], [text(r) for r in results]
    assert len(writes(workspace)) == 1


async def test_a_2026_state_cannot_be_moved_to_another_tool_or_chat(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto",
                      elicitation_callback=answering("accept", {"confirm": True})) as client:  # fmt: skip
        asked = await client.session.call_tool("close_chat", {"chat_id": Q2}, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        for tool, args in (("leave_chat", {"chat_id": Q2}), ("close_chat", {"chat_id": ALICE}),
                           ("clear_chat_history", {"chat_id": Q2})):  # fmt: skip
            try:
                moved = await client.session.call_tool(tool, args, input_responses=yes,
                                                       request_state=asked.request_state)  # fmt: skip
                assert getattr(moved, "is_error", False) or isinstance(moved, InputRequiredResult)
            except Exception:  # refused by the request-state boundary: also fine
                pass
    assert writes(workspace) == []


async def test_a_form_yes_cannot_answer_a_page_round(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    # Round one asks for the approval page (URL elicitation); the retry carries a form-style yes under every key.
    settings = guarded(cliq, tmp_path, CLIQ_APPROVAL_WAIT="0.5")
    async with Client(cliq.server(settings), mode="auto", elicitation_callback=answering("accept")) as client:
        asked = await client.session.call_tool("close_chat", {"chat_id": Q2}, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        forged = {key: ElicitResult(action="accept", content={"confirm": True}) for key in ("answer", "approve")}
        with anyio.fail_after(10):
            result = await client.call_tool("close_chat", {"chat_id": Q2}, input_responses=forged,
                                            request_state=asked.request_state)  # fmt: skip
    # Without the click on the page, the URL "accept" is only consent to open it: nothing acts.
    assert result.is_error is True and text(result).startswith("Not done yet: waiting for the person")
    assert writes(workspace) == []


async def test_a_2026_yes_after_the_ttl_does_not_act(cliq: Cliq, workspace: Workspace, tmp_path: Path) -> None:
    async def slow_person(context: Any, params: ElicitRequestParams) -> ElicitResult:
        await anyio.sleep(0.3)  # real time: the SDK's seal checks the wall clock itself
        return ElicitResult(action="accept", content={"confirm": True})

    settings = guarded(cliq, tmp_path, CLIQ_CONFIRM_TTL="0.2")
    async with Client(cliq.server(settings), mode="auto", elicitation_callback=slow_person) as client:
        try:
            result = await client.call_tool("close_chat", {"chat_id": Q2})
            assert result.is_error is True
        except Exception as exc:  # the request-state boundary refuses the expired round
            assert "expired" in str(exc) or "request" in str(exc).lower()
    assert writes(workspace) == []


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_the_state_store_down_at_the_moment_of_acting_acts_on_nothing_and_is_audited(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    with socket.socket() as s:  # a port where nothing listens: Redis is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = guarded(cliq, tmp_path, CLIQ_STATE_URL=f"redis://127.0.0.1:{port}/0")
    async with Client(cliq.server(settings), mode=era,
                      elicitation_callback=answering("accept", {"confirm": True})) as client:  # fmt: skip
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    # The store also holds the account's rate budget: without it nothing is sent at all, in either era.
    assert (
        result.is_error is True
        and "state store" in result.content[0].text
        and "nothing was sent" in result.content[0].text
    )
    assert api_calls(workspace) == []
    assert [line["outcome"] for line in audit_lines(tmp_path)] == ["failed"]


async def test_invalid_write_arguments_of_every_shape_are_audited(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"chat_id": "../../chats"},
        {"chat_id": Q2, "confirmation_token": "v2.x"},
        {"chat_id": Q2, "dry_run": 2},
        {"chat_id": [Q2]},
        {"chat_id": Q2, "extra": 1},
    ]
    async with Client(cliq.server(guarded(cliq, tmp_path))) as client:
        for args in bad:
            assert (await client.call_tool("close_chat", args)).is_error
        many = [str(2890538000000000000 + n) for n in range(51)]  # distinct: a repeated id counts once
        assert (await client.call_tool("close_chats", {"chat_ids": many})).is_error
    lines = audit_lines(tmp_path)
    assert [(line["tool"], line["outcome"]) for line in lines] == [("close_chat", "invalid")] * 6 + [
        ("close_chats", "invalid")
    ]
    assert writes(workspace) == []
