"""The approval page, served for real: a headless Chromium answers it, httpx attacks it over loopback, and
``$BROWSER`` is a script that records what it was asked to open. Nothing of ours is mocked; only the clock
is injected, so expiry needs no sleeping."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from playwright.async_api import Browser
from starlette.applications import Starlette
from starlette.routing import Mount

from cliq_mcp.core.state_store import SqliteStore
from cliq_mcp.core.text import quoted
from cliq_mcp.guard.approval import Approval, Approvals, open_in_browser
from cliq_mcp.guard.questions import Question

HOSTILE = "<script>alert(1)</script>\u202egnp.exe"  # markup and a right-to-left override, as a chat name
QUESTION = Question(
    "Close 3 chats? They will be hidden from your recent chats.",
    (
        f"- {quoted('Design sync')} · group chat · 2890538000000067890 · last active 2025-01-14",
        f"- {quoted(HOSTILE)} · channel · 2890538000000055555 · last active 2024-11-02 · muted",
        f"- {quoted('Alice Smith')} · direct message · 2890538000000012345 · last active 2025-02-03 · pinned",
    ),
)
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so one Chromium serves every browser test here


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def approvals(clock: Clock, tmp_path: Path) -> AsyncIterator[Approvals]:
    # Kept where the server keeps them by default: the account's SQLite state file, on the injected clock.
    async with Approvals(SqliteStore(tmp_path / "state.sqlite3", clock=clock), clock=clock) as served:
        yield served


async def _check_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url.path, name)


def _client(base_url: str) -> httpx.AsyncClient:
    """A browser stand-in that keeps cookies and checks the security headers of every response."""
    return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [_check_headers]})


@asynccontextmanager
async def _opened(approval: Approval) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """A client that opened the page first (holding its cookie), the page's CSRF token, and its origin."""
    origin = approval.url.rsplit("/", 1)[0]
    async with _client(origin) as client:
        page = await client.get(approval.url)
        assert page.status_code == 200
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found
        yield client, found.group(1), origin


def _answer(csrf: str, decision: str = "approve") -> dict[str, str]:
    return {"csrf": csrf, "decision": decision}


# In a real browser.


async def test_a_person_approves_in_the_browser(browser: Browser, approvals: Approvals) -> None:
    context = await browser.new_context()
    async with await approvals.open("cliq-mcp", QUESTION, ttl_s=120) as approval:
        page = await context.new_page()
        await page.goto(approval.url)
        text = await page.inner_text("body")
        assert "cliq-mcp" in text and QUESTION.sentence in text
        for name in ("Design sync", "<script>alert(1)</script>gnp.exe", "Alice Smith"):
            assert name in text  # every chat of the batch, markup shown as text
        assert "2890538000000055555" in text and "muted" in text
        assert await page.locator("script").count() == 0
        await page.get_by_role("button", name="Approve").click()
        assert "Approved" in await page.inner_text("h1")
        assert await approval.wait(5) == "approved"
    await context.close()


async def test_a_person_denies_in_the_browser(browser: Browser, approvals: Approvals) -> None:
    context = await browser.new_context()
    async with await approvals.open("cliq-mcp", QUESTION, ttl_s=120) as approval:
        page = await context.new_page()
        await page.goto(approval.url)
        await page.get_by_role("button", name="Deny").click()
        assert "Denied" in await page.inner_text("h1")
        assert await approval.wait(5) == "denied"
    await context.close()


async def test_the_page_says_closed_once_the_call_has_ended(browser: Browser, approvals: Approvals) -> None:
    context = await browser.new_context()
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    await approval.close()
    page = await context.new_page()
    response = await page.goto(approval.url)
    assert response is not None and response.status == 410
    assert "This question has closed" in await page.inner_text("body")
    assert "Approve" not in await page.inner_text("body")
    assert await approval.wait(5) == "expired"
    await context.close()


async def test_a_second_browser_sees_the_page_is_taken(browser: Browser, approvals: Approvals) -> None:
    first, second = await browser.new_context(), await browser.new_context()
    async with await approvals.open("cliq-mcp", QUESTION, ttl_s=120) as approval:
        await (await first.new_page()).goto(approval.url)
        response = await (page := await second.new_page()).goto(approval.url)
        assert response is not None and response.status == 409
        assert "open in another browser" in (await page.inner_text("body")).lower()
        assert await approval.outcome() is None
    await first.close()
    await second.close()


# Opening the browser.


def _recording_browser(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    record = tmp_path / "opened.txt"
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{record}"\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, record


def test_browser_env_chooses_the_browser_and_gets_an_owner_only_page_that_leads_to_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL is a one-time secret and a command line is every local user's to read: the browser is given a
    file:// link to a page only this user can read (0600 in a 0700 directory), which sends it on to the URL."""
    script, record = _recording_browser(tmp_path)
    monkeypatch.setenv("BROWSER", str(script))
    url = "http://127.0.0.1:8123/k5Gc0kJ2-Zq9UWlqHnO3xhv4sRQd_Vdx"
    assert open_in_browser(url) is True
    link = record.read_text()
    page = Path(link.removeprefix("file://"))
    assert link.startswith("file://") and "k5Gc0kJ2" not in link and f'href="{url}"' in page.read_text()
    assert stat.S_IMODE(page.stat().st_mode) == 0o600 and stat.S_IMODE(page.parent.stat().st_mode) == 0o700
    assert page.stat().st_uid == os.getuid()


def test_no_private_place_for_the_link_means_no_browser(tmp_path: Path) -> None:
    script, _ = _recording_browser(tmp_path)
    shared = tmp_path / "state" / "cliq-mcp" / "approval-links"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    os.chmod(shared, 0o777)
    # A directory others can write is narrowed to 0700 (it is ours); one we cannot own is refused.
    assert open_in_browser(
        "http://127.0.0.1:1/x", environ={"BROWSER": str(script), "XDG_STATE_HOME": str(tmp_path / "state")}
    )
    assert stat.S_IMODE(shared.stat().st_mode) == 0o700
    assert open_in_browser("http://127.0.0.1:1/x", environ={"BROWSER": str(script)}) is False  # no HOME: nowhere


def test_a_browser_that_fails_or_no_browser_at_all_is_false(tmp_path: Path) -> None:
    script, record = _recording_browser(tmp_path, exit_code=3)
    assert open_in_browser("http://127.0.0.1:1/x", environ={"BROWSER": str(script), "HOME": str(tmp_path)}) is False
    assert record.read_text().startswith("file://")
    if sys.platform.startswith("linux"):  # no display: a text-mode browser would take the MCP terminal
        assert open_in_browser("http://127.0.0.1:1/x", environ={"PATH": "/usr/bin:/bin"}) is False


# Over loopback with httpx.


async def test_a_wrong_csrf_token_is_refused_and_the_question_stays_open(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        refused = await client.post(approval.url, data=_answer(csrf[::-1]), headers={"Origin": origin})
        assert refused.status_code == 403
        assert await approval.outcome() is None
        missing = await client.post(approval.url, data={"decision": "approve"}, headers={"Origin": origin})
        assert missing.status_code == 403
        accepted = await client.post(approval.url, data=_answer(csrf), headers={"Origin": origin})
        assert accepted.status_code == 200
    assert await approval.wait(5) == "approved"


async def test_a_foreign_host_is_refused(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        for host in ("localhost" + origin.removeprefix("http://127.0.0.1"), "evil.example", "127.0.0.1"):
            page = await client.get(approval.url, headers={"Host": host})
            assert page.status_code == 403 and QUESTION.sentence not in page.text
            post = await client.post(approval.url, data=_answer(csrf), headers={"Host": host, "Origin": origin})
            assert post.status_code == 403
    assert await approval.outcome() is None


async def test_a_foreign_or_missing_origin_is_refused(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Origin": origin + ".evil.example"},
            {"Origin": "http://localhost" + origin.removeprefix("http://127.0.0.1")},
            {},  # no Origin and no Referer
            {"Referer": "http://evil.example/" + approval.url},
            {"Referer": origin + ".evil.example/"},
        ):
            refused = await client.post(approval.url, data=_answer(csrf), headers=headers)
            assert refused.status_code == 403, headers
        assert await approval.outcome() is None
        # A browser that sends no Origin but a Referer from the page itself is answering from the page.
        accepted = await client.post(approval.url, data=_answer(csrf, "deny"), headers={"Referer": approval.url})
        assert accepted.status_code == 200
    assert await approval.wait(5) == "denied"


async def test_an_approval_answers_once(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        assert (await client.post(approval.url, data=_answer(csrf), headers={"Origin": origin})).status_code == 200
        for decision in ("approve", "deny"):
            again = await client.post(approval.url, data=_answer(csrf, decision), headers={"Origin": origin})
            assert again.status_code == 410 and "This question has closed" in again.text
        assert (await client.get(approval.url)).status_code == 410
    assert await approval.wait(5) == "approved"
    await approval.close()
    assert await approval.wait(5) == "approved"


async def test_an_expired_question_is_gone_and_waiting_says_expired(approvals: Approvals, clock: Clock) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        clock.now += 120
        late = await client.post(approval.url, data=_answer(csrf), headers={"Origin": origin})
        assert late.status_code == 410 and "time to answer ran out" in late.text
        assert (await client.get(approval.url)).status_code == 410
    assert await approval.wait(60) == "expired"


async def test_a_wait_that_times_out_closes_the_page(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        assert await approval.wait(0.05) == "expired"
        late = await client.post(approval.url, data=_answer(csrf), headers={"Origin": origin})
        assert late.status_code == 410
    assert await approval.outcome() == "expired"


async def test_a_second_browser_cannot_see_or_answer(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (first, csrf, origin), _client(origin) as second:
        page = await second.get(approval.url)
        assert page.status_code == 409 and QUESTION.sentence not in page.text and csrf not in page.text
        post = await second.post(approval.url, data=_answer(csrf), headers={"Origin": origin})
        assert post.status_code == 403
        stolen = await second.post(
            approval.url, data=_answer(csrf), headers={"Origin": origin, "Cookie": "cliq_approval=guess"}
        )
        assert stolen.status_code == 403
        assert await approval.outcome() is None
        assert (await first.get(approval.url)).status_code == 200  # the first browser still can


async def test_the_first_open_sets_a_strict_httponly_cookie_for_this_page_only(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    origin = approval.url.rsplit("/", 1)[0]
    async with _client(origin) as client:
        head = await client.head(approval.url)  # a link checker's HEAD does not take the page
        assert head.status_code == 200 and "set-cookie" not in head.headers
        page = await client.get(approval.url)
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert f"path={approval.url.removeprefix(origin).lower()}" in cookie


async def test_an_answer_before_anyone_opened_the_page_is_refused(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    origin = approval.url.rsplit("/", 1)[0]
    async with _client(origin) as client:
        post = await client.post(approval.url, data=_answer("x"), headers={"Origin": origin})
        assert post.status_code == 403
    assert await approval.outcome() is None


async def test_unknown_pages_are_not_found(approvals: Approvals) -> None:
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    origin = approval.url.rsplit("/", 1)[0]
    async with _client(origin) as client:
        for path in ("/" + "A" * 32, "/", "/favicon.ico", approval.url.removeprefix(origin) + "/x"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.post("/" + "A" * 32, headers={"Origin": origin})).status_code == 404


async def test_chat_names_are_escaped(approvals: Approvals) -> None:
    raw = Question(f"Close {HOSTILE}?", (f"- {HOSTILE}", '- "x" onmouseover="alert(1)'))
    approval = await approvals.open("<b>cliq-mcp</b>", raw, ttl_s=120)
    async with _opened(approval) as (client, _, _):
        html = (await client.get(approval.url)).text
    assert "<script" not in html and "\u202e" not in html
    assert "<b>&lt;b&gt;cliq-mcp&lt;/b&gt;</b>" in html  # the server's name, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;gnp.exe" in html
    assert 'onmouseover="' not in html
    assert "&quot;x&quot;" in html and "onmouseover=&quot;alert(1)" in html


async def test_no_log_line_holds_the_url(
    approvals: Approvals, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    secret = approval.url.rsplit("/", 1)[1]
    script, _ = _recording_browser(tmp_path, exit_code=1)
    assert open_in_browser(approval.url, environ={"BROWSER": str(script), "HOME": str(tmp_path)}) is False
    async with _opened(approval) as (client, csrf, origin):
        await client.post(approval.url, data=_answer(csrf), headers={"Origin": origin})
    ours = [r.getMessage() for r in caplog.records if r.name.startswith(("cliq_mcp", "uvicorn"))]
    assert ours  # something was logged (no browser, the listener), and none of it holds the secret
    assert not [line for line in ours if secret in line]


# Mounted in the HTTP app.


def _mounted(approvals: Approvals) -> Callable[[], httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/approvals", app=approvals.app)])
    transport = httpx.ASGITransport(app=app)
    return lambda: httpx.AsyncClient(
        transport=transport, base_url="https://mcp.example.com", event_hooks={"response": [_check_headers]}
    )


async def test_mounted_under_the_http_app() -> None:
    approvals = Approvals(base_url="https://mcp.example.com/approvals/")
    client = _mounted(approvals)
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    assert re.fullmatch(r"https://mcp\.example\.com/approvals/[A-Za-z0-9_-]{32}", approval.url)
    async with client() as browser, client() as other:
        page = await browser.get(approval.url)
        assert page.status_code == 200 and "Design sync" in page.text
        cookie = page.headers["set-cookie"].lower()
        assert "secure" in cookie and f"path={approval.url.removeprefix('https://mcp.example.com').lower()}" in cookie
        assert (await other.get(approval.url)).status_code == 409
        foreign = await browser.get(approval.url, headers={"Host": "127.0.0.1:8000"})
        assert foreign.status_code == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        origin = {"Origin": "https://mcp.example.com"}
        assert (await browser.post(approval.url, data=_answer(csrf.group(1)), headers=origin)).status_code == 200
    assert await approval.wait(5) == "approved"


async def test_without_a_base_url_or_a_task_group_nothing_is_served() -> None:
    with pytest.raises(RuntimeError, match="async with Approvals"):
        await Approvals().open("cliq-mcp", QUESTION, ttl_s=120)
    with pytest.raises(ValueError, match="base_url"):
        Approvals(base_url="mcp.example.com/approvals")


async def test_a_field_or_host_given_twice_is_no_answer(approvals: Approvals) -> None:
    """A form with its decision twice ("deny" then "approve"), or a request naming two hosts, is read as no
    answer: what a person sent is never guessed."""
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    async with _opened(approval) as (client, csrf, origin):
        host = origin.removeprefix("http://")
        form = "application/x-www-form-urlencoded"
        twice = await client.post(approval.url, content=f"csrf={csrf}&decision=deny&decision=approve",
                                  headers={"Origin": origin, "Content-Type": form})  # fmt: skip
        assert twice.status_code == 400 and await approval.outcome() is None
        # httpx will not send two Host headers: a raw request, as any program on the machine could.
        body = f"csrf={csrf}&decision=approve".encode()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        raw = (f"POST {approval.url.removeprefix(origin)} HTTP/1.1\r\nHost: {host}\r\nHost: {host}\r\n"
               f"Origin: {origin}\r\nCookie: {cookie}\r\nContent-Type: {form}\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body  # fmt: skip
        hostname, port = host.split(":")
        async with await anyio.connect_tcp(hostname, int(port)) as stream:
            await stream.send(raw)
            answer = b""
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    answer += await stream.receive()
        assert answer.startswith((b"HTTP/1.1 403", b"HTTP/1.1 400")) and await approval.outcome() is None  # h11 or ours


async def test_two_processes_sharing_the_state_file_serve_one_page_and_its_yes_acts_once(
    clock: Clock, tmp_path: Path
) -> None:
    """Two servers of one account (two workers, or Claude Desktop's and a `cliq-mcp call`) keep pages in one
    state file: a page opened by one is answered through the other, the waiting call sees the click, and only
    one call acts on it."""
    path = tmp_path / "state.sqlite3"
    store = SqliteStore(path, clock=clock)
    async with Approvals(store, clock=clock) as one, Approvals(SqliteStore(path, clock=clock), clock=clock) as other:
        approval = await one.open("cliq-mcp", QUESTION, ttl_s=120)
        there = approval.url.replace(await one.start(), await other.start())  # the same page at the other server
        async with _opened(await _at(other, there)) as (client, csrf, origin):
            answered = await client.post(there, data=_answer(csrf), headers={"Origin": origin})
            assert answered.status_code == 200 and "Approved" in answered.text
        assert await approval.wait(5) == "approved"
        found = await other.find(approval.id)
        assert found is not None and found.question.full == QUESTION.full
        taken = [await found.take(), await approval.take(), await found.take()]
        assert taken[0] is not None and 0 <= taken[0] < 120 and taken[1:] == [None, None]  # shown ago; then no one


async def _at(approvals: Approvals, url: str) -> Approval:
    found = await approvals.find(url.rsplit("/", 1)[-1])
    assert found is not None
    return found


async def test_a_page_no_longer_on_record_is_older_than_any_time_limit(approvals: Approvals, clock: Clock) -> None:
    """How long ago a page was shown dates the yes given on it: a page the store no longer holds (gone with its
    time, or deleted) reads as shown infinitely long ago, never as just now."""
    approval = await approvals.open("cliq-mcp", QUESTION, ttl_s=120)
    clock.now += 30
    assert await approval.shown_ago() == 30
    clock.now += 120 + 600 + 1  # past its time and the while it says "closed"
    assert await approval.shown_ago() == float("inf")
