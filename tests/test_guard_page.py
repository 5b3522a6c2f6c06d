"""The guard, end to end, for clients without form elicitation (Claude Desktop): the approval page opened in
a real browser (headless Debian Chromium, driven by Playwright) or sent as a URL elicitation; every yes acts
once, replays included; and nothing the model reads can confirm a destructive call."""

from __future__ import annotations

import contextlib
import html
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from conftest import ALICE, EVERY_TOOL, Q2, Cliq, approve_with, env_for, writes
from mcp import Client
from mcp.types import (
    ElicitRequestParams,
    ElicitResult,
    InputRequiredResult,
    TextContent,
)
from playwright.async_api import Browser
from simulated_cliq import Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.tools.catalogue import BY_NAME
from cliq_mcp.tools.row import Effect

CLOSE_Q2 = [("PUT", f"/api/v3/chats/{Q2}", {"operation": "close_chat"})]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so one Chromium serves every browser test here


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$BROWSER stands in for the person's desktop: a script that writes down what it was asked to open (and,
    beside it, its whole command line and environment, which every local user could read)."""
    record = tmp_path / "opened-url"
    script = tmp_path / "desktop-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s " "$@" > "{record}.argv"\nenv > "{record}.env"\n'
                      f'printf "%s" "$1" > "{record}"\n')  # fmt: skip
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("BROWSER", str(script))
    return record


def proc_files() -> list[bytes]:
    """The command line and environment of every process this user can read, as any local user would."""
    found = []
    for entry in Path("/proc").iterdir():
        for name in ("cmdline", "environ"):
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
                found.append((entry / name).read_bytes())
    return found


def wire(workspace: Workspace) -> list[tuple[str, str, Any]]:
    return [(w.method, w.path, w.json) for w in writes(workspace)]


def everything_shown(result: Any) -> str:
    """All the model can read of a result: its text and its structured content."""
    text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
    return f"{text}\n{result.structured_content!r}"


async def opened_url(record: Path) -> str:
    """What the browser was asked to open: an owner-only page of the server's that leads to the approval URL."""
    with anyio.fail_after(20):  # a safety net only: the server opens the page at once
        while not record.exists():
            await anyio.sleep(0.01)
    return record.read_text()


def leads_to(link: str) -> str:
    """The approval URL the owner-only page sends the browser to (as only the file's owner can read)."""
    found = re.search(r'href="([^"]+)"', Path(link.removeprefix("file://")).read_text())
    assert found, link
    return html.unescape(found.group(1))


async def click(browser: Browser, url: str, button: str) -> str:
    """A person opens the page (the link the server gave their browser, or the URL), reads it and clicks;
    returns what the page said first and then."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url)
        if url.startswith("file://"):  # the owner-only page sends the browser on to the approval page
            await page.wait_for_url(lambda u: u.startswith("http"), timeout=5000)
        shown = await page.inner_text("body")
        await page.click(f"button[value={button}]")
        return shown + "\n---\n" + await page.inner_text("body")
    finally:
        await context.close()


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_approve_on_the_page_closes_the_chat_once(
    cliq: Cliq, workspace: Workspace, browser: Browser, desktop: Path, era: str, caplog: pytest.LogCaptureFixture
) -> None:
    results: list[Any] = []
    # No elicitation, like Claude Desktop.
    async with Client(cliq.server(cliq.settings()), mode=era) as client:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                results.append(await client.call_tool("close_chat", {"chat_id": Q2}))

            tg.start_soon(call)
            link = await opened_url(desktop)
            url = leads_to(link)
            secret = url.rsplit("/", 1)[-1]
            # While the call waits: no command line and no environment on this machine holds the URL.
            assert link.startswith("file://") and secret not in link
            assert not [p for p in proc_files() if secret.encode() in p]
            assert secret not in Path(f"{desktop}.argv").read_text() + Path(f"{desktop}.env").read_text()
            page_file = Path(link.removeprefix("file://"))
            assert stat.S_IMODE(page_file.stat().st_mode) == 0o600
            assert stat.S_IMODE(page_file.parent.stat().st_mode) == 0o700
            assert writes(workspace) == []  # nothing before the click
            seen = await click(browser, link, "approve")  # the person's real browser follows the link
        logged = list(caplog.records)  # everything the server logged while it asked and acted
        async with httpx.AsyncClient() as person:  # used once: opened again, it says the question has closed
            again = await person.get(url)
    (result,) = results
    assert result.is_error is False, everything_shown(result)
    assert "Q2 Product Review" in seen and Q2 in seen and "Close" in seen
    assert wire(workspace) == CLOSE_Q2
    # The one-time URL reached only the person's browser: not the result, not the log at INFO or above.
    assert secret not in everything_shown(result)
    assert not [r for r in logged if r.levelname != "DEBUG" and secret in r.getMessage()]
    assert again.status_code == 410


async def test_deny_on_the_page_sends_nothing(
    cliq: Cliq, workspace: Workspace, browser: Browser, desktop: Path
) -> None:
    async with Client(cliq.server(cliq.settings())) as client, anyio.create_task_group() as tg:
        results: list[Any] = []

        async def call() -> None:
            results.append(await client.call_tool("leave_chat", {"chat_id": Q2}))

        tg.start_soon(call)
        await click(browser, leads_to(await opened_url(desktop)), "deny")
    (result,) = results
    assert result.is_error is True and "denied it on the approval page" in result.content[0].text
    assert writes(workspace) == []


async def test_a_call_waits_no_longer_than_a_client_would_and_the_same_call_picks_the_answer_up(
    cliq: Cliq, workspace: Workspace, desktop: Path
) -> None:
    """The call waits CLIQ_APPROVAL_WAIT (45 s by default: inside the 60 s request timeout of the official
    TypeScript SDK), then says it is still waiting; the page stays open. The person approves; the same call
    made again acts on that click, once, without a second page."""
    async with Client(cliq.server(cliq.settings(CLIQ_APPROVAL_WAIT="0.2"))) as client:
        first = await client.call_tool("close_chat", {"chat_id": Q2})
        assert first.is_error is True and first.content[0].text.startswith("Not done yet: waiting")
        assert "call close_chat again with the same arguments" in first.content[0].text and writes(workspace) == []
        url = leads_to(desktop.read_text())
        desktop.unlink()  # a second page would be opened here
        async with httpx.AsyncClient() as person:
            await approve_with(person, url)
        assert writes(workspace) == []  # the click alone acts on nothing: the call does, when made again
        second = await client.call_tool("close_chat", {"chat_id": Q2})
        third = await client.call_tool("close_chat", {"chat_id": Q2})  # the chat is closed now: nothing to do
    assert second.is_error is False, second.content[0].text
    assert wire(workspace) == CLOSE_Q2 and not desktop.exists()
    assert "already closed" in third.content[0].text


async def test_a_page_nobody_answers_closes_when_its_time_runs_out(
    cliq: Cliq, workspace: Workspace, desktop: Path
) -> None:
    settings = cliq.settings(CLIQ_APPROVAL_WAIT="0.2", CLIQ_CONFIRM_TTL="0.3")
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
        cliq.time.advance(0.3)  # the page's own time (CLIQ_CONFIRM_TTL) runs out, on the store's clock
        async with httpx.AsyncClient() as late:  # the person comes back too late
            page = await late.get(leads_to(desktop.read_text()))
    assert result.is_error is True and "Not done yet" in result.content[0].text
    assert page.status_code == 410 and writes(workspace) == []


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_url_elicitation_sends_the_page_and_the_yes_acts_once(
    cliq: Cliq, workspace: Workspace, desktop: Path, url_only_client: None, era: str
) -> None:
    seen: list[ElicitRequestParams] = []

    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)  # the host asks the person, who agrees to open the page and approves there
        async with httpx.AsyncClient() as person:
            await approve_with(person, params.url)  # type: ignore[union-attr]
        return ElicitResult(action="accept")

    async with Client(cliq.server(cliq.settings()), mode=era, elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is False, everything_shown(result)
    (asked,) = seen
    assert asked.mode == "url" and "Close" in asked.message
    assert not desktop.exists()  # sent to the host, not opened by the server
    assert asked.url.rsplit("/", 1)[-1] not in everything_shown(result)  # type: ignore[union-attr]
    assert wire(workspace) == CLOSE_Q2


async def test_url_elicitation_declined_sends_nothing(cliq: Cliq, workspace: Workspace, url_only_client: None) -> None:
    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="decline")

    async with Client(cliq.server(cliq.settings()), elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is True and "decline" in result.content[0].text and writes(workspace) == []


async def test_a_replayed_2026_answer_acts_once_here_and_on_a_replica(cliq: Cliq, workspace: Workspace) -> None:
    shared = {"CLIQ_GUARD_SECRET": "guard-secret-0123456789"}  # and the same state store (the test's HOME)
    args = {"chat_id": Q2}

    async def answer(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(cliq.settings(**shared)), elicitation_callback=answer) as first:
        asked = await first.session.call_tool("close_chat", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult) and asked.input_requests
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        sent = [
            await first.call_tool("close_chat", args, input_responses=yes, request_state=asked.request_state)
            for _ in range(3)
        ]
    async with Client(cliq.server(cliq.settings(**shared)), elicitation_callback=answer) as replica:
        elsewhere = await replica.call_tool("close_chat", args, input_responses=yes, request_state=asked.request_state)
    assert sent[0].is_error is False, everything_shown(sent[0])
    for replay in [*sent[1:], elsewhere]:
        assert replay.is_error is True and "already used" in replay.content[0].text
    assert wire(workspace) == CLOSE_Q2


def token_like(text: str) -> set[str]:
    """Every string in what the model was shown that could pass for a token, an id or a URL."""
    return set(re.findall(r"[A-Za-z0-9_.:/?=&%-]{12,}", text))


@pytest.mark.parametrize("era", ["auto", "legacy"])
async def test_the_model_cannot_confirm_its_own_destructive_call(cliq: Cliq, workspace: Workspace, era: str) -> None:
    # A client without elicitation where no browser can open (BROWSER=false): the model has only results.
    destructive = [(tool, args) for tool, args in EVERY_TOOL if BY_NAME[tool].effect is Effect.DESTRUCTIVE]
    async with Client(cliq.server(cliq.settings()), mode=era) as client:
        for tool, args in destructive:
            first = await client.call_tool(tool, args)
            shown = everything_shown(first)
            assert first.is_error is True and "Nothing was changed" in shown
            # Whatever it was shown, fed back in every argument the model could add, acts on nothing.
            for candidate in sorted(token_like(shown))[:40]:
                for extra in ({"confirmation_token": candidate}, {"confirm": candidate}, {"approved": True}):
                    again = await client.call_tool(tool, {**args, **extra})
                    assert again.is_error is True
    assert writes(workspace) == []


@pytest.fixture
def no_state_directory(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name)
    yield


async def test_without_a_place_to_remember_answers_a_2026_yes_does_not_act(
    cliq: Cliq, workspace: Workspace, no_state_directory: None, tmp_path: Path
) -> None:
    async def yes(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    settings = Settings.from_env(env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl")))  # no state dir
    async with Client(cliq.server(settings), elicitation_callback=yes) as client:
        result = await client.call_tool("close_chat", {"chat_id": ALICE})
    assert result.is_error is True and "nowhere to remember" in result.content[0].text
    assert writes(workspace) == []


async def test_a_page_approval_waits_for_its_retry_while_other_questions_are_asked(
    cliq: Cliq, workspace: Workspace, url_only_client: None
) -> None:
    async def host(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="decline")

    async with Client(cliq.server(cliq.settings()), elicitation_callback=host) as client:
        first = await client.session.call_tool("close_chat", {"chat_id": Q2}, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and first.input_requests
        (request,) = first.input_requests.values()
        async with httpx.AsyncClient() as person:
            await approve_with(person, request.params.url)  # type: ignore[union-attr]
        # Before the host retries, the model asks something else: another page opens (and is declined).
        other = await client.call_tool("leave_chat", {"chat_id": Q2})
        yes = {key: ElicitResult(action="accept") for key in first.input_requests}
        done = await client.call_tool("close_chat", {"chat_id": Q2}, input_responses=yes,
                                      request_state=first.request_state)  # fmt: skip
    assert other.is_error is True
    assert done.is_error is False, everything_shown(done)
    assert wire(workspace) == CLOSE_Q2


def lose_the_store(home: Path) -> None:
    """The state directory is deleted (or the file replaced): every record of it is gone, used answers too."""
    for found in home.rglob("state.sqlite3*"):
        found.unlink()


async def test_an_answer_from_before_the_store_was_lost_is_refused(cliq: Cliq, workspace: Workspace) -> None:
    """Issue #22 item 6: a store that lost its claims cannot tell a used 2026-07-28 answer from a new one; an
    answer is honoured only while the store remembers asking its question, so a replay after the loss acts on
    nothing (the person is asked again)."""
    shared = {"CLIQ_GUARD_SECRET": "guard-secret-0123456789"}
    args = {"chat_id": Q2}

    async def answer(context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(cliq.settings(**shared)), elicitation_callback=answer) as first:
        asked = await first.session.call_tool("close_chat", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        lose_the_store(Path(cliq.settings().guard.state_url or "").parent.parent)
        # The next use of the store notices the loss and counts the minute as full (issue #23 item 2) ...
        noticed = await first.call_tool("get_chat", args)
        assert noticed.is_error is True and "Not sent" in noticed.content[0].text
        cliq.time.advance(61)  # ... so the replay comes a minute later, within the answer's 300 s
        replay = await first.call_tool("close_chat", args, input_responses=yes, request_state=asked.request_state)
    assert replay.is_error is True and "no record of asking that question" in replay.content[0].text
    assert writes(workspace) == []
