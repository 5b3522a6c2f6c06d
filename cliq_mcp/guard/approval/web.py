"""Approvals on a web page, for clients that cannot show a dialog (Claude Desktop).

Each approval has a one-time URL (192 random bits in the path). The page locks to the first browser that
opens it (an HttpOnly, SameSite=Strict cookie); answering is a form POST that must carry that cookie, the
page's CSRF token, and this server's exact Host and Origin. It answers once, then says it has closed.

Two ways to serve it: ``async with Approvals() as approvals`` serves on 127.0.0.1 on a free port, started on
first use, in the current event loop (stdio); ``Approvals(base_url=...)`` serves nothing itself and its
``app`` is mounted at that URL's path by the streamable-HTTP app.

The URLs are secrets: nothing here logs them, and uvicorn's access log is off.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import anyio
import uvicorn
from anyio.abc import TaskGroup, TaskStatus
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from cliq_mcp.guard.approval.page import answered_page, notice_page, question_page
from cliq_mcp.guard.questions import Question

logger = logging.getLogger(__name__)

Outcome = Literal["approved", "denied", "expired"]
DEFAULT_TIMEOUT_S = 120.0
KEEP_CLOSED_S = 600.0  # how long a finished approval still says "closed" rather than "not found"
COOKIE = "cliq_approval"
MAX_FORM_BYTES = 4096

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
]

_CLOSED = {
    "approved": "It was already answered.",
    "denied": "It was already answered.",
    "expired": "The time to answer ran out, so nothing was changed.",
    "closed": "The request ended before an answer, so nothing was changed.",
}


@dataclass(eq=False)
class _Record:
    server_name: str
    question: Question
    ttl_s: float
    expires_at: float
    url: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    done: anyio.Event = field(default_factory=anyio.Event)
    browser: str | None = None  # the cookie of the browser that opened the page first
    ended: Literal["approved", "denied", "expired", "closed"] | None = None
    ended_at: float = 0.0

    def end(self, how: Literal["approved", "denied", "expired", "closed"], now: float) -> None:
        if self.ended is None:
            self.ended, self.ended_at = how, now
            self.done.set()

    def settle(self, now: float) -> None:
        if self.ended is None and now >= self.expires_at:
            self.end("expired", self.expires_at)

    @property
    def outcome(self) -> Outcome | None:
        if self.ended is None:
            return None
        return "expired" if self.ended == "closed" else self.ended


class Approval:
    """One question on one page. ``close()`` it when the call ends, whatever the reason."""

    def __init__(self, record: _Record, clock: Callable[[], float]) -> None:
        self._record, self._clock = record, clock

    @property
    def url(self) -> str:
        """The one-time page. A secret: show it only to the person asked, never log it."""
        return self._record.url

    @property
    def outcome(self) -> Outcome | None:
        """None while nobody has answered and time is left."""
        self._record.settle(self._clock())
        return self._record.outcome

    async def wait(self, timeout_s: float = DEFAULT_TIMEOUT_S, *, keep_open: bool = False) -> Outcome | None:
        """The person's answer; "expired" when the page's time or ``timeout_s`` runs out first (the page
        then closes, so a late click changes nothing) or, ``keep_open``, None when only ``timeout_s`` ran out
        (the page stays open for a later wait, until its own time ends)."""
        record = self._record
        record.settle(self._clock())
        if record.ended is None:
            with anyio.move_on_after(max(0.0, min(timeout_s, record.expires_at - self._clock()))):
                await record.done.wait()
            record.settle(self._clock())
            if record.ended is None and keep_open:
                return None
            record.end("expired", self._clock())
        return record.outcome

    def close(self) -> None:
        """End the question; the page now says it has closed. Does nothing once answered."""
        self._record.end("closed", self._clock())

    def __enter__(self) -> Approval:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def kept_or_closed(self) -> Iterator[Callable[[], None]]:
        """Closed on the way out, whatever happens, unless the ``keep()`` it yields was called (left open for a
        later wait)."""
        kept = False

        def keep() -> None:
            nonlocal kept
            kept = True

        try:
            yield keep
        finally:
            if not kept:
                self.close()


class _Listener(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The MCP server owns this process's signals; the listener stops when ``Approvals`` closes.
        yield


class Approvals:
    """The approval pages of one server process.

    ``base_url`` (HTTP transport): where ``app`` is mounted as the browser sees it, e.g.
    ``https://mcp.example.com/approvals``; requests must carry exactly its host (and origin). Without it,
    ``async with Approvals()`` serves on 127.0.0.1 itself. ``clock`` is for tests.
    """

    def __init__(self, *, base_url: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._base: str | None = None
        self._host: str | None = None
        self._origin: str | None = None
        self._secure = False
        if base_url is not None:
            self._configure(base_url)
        self._tg: TaskGroup | None = None
        self._listener: _Listener | None = None
        self._starting = anyio.Lock()
        self._router = Starlette(routes=[Route("/{approval_id}", self._page, methods=["GET", "POST"])])

    def _configure(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("base_url must be an http(s) URL without query or fragment")
        self._host = parts.netloc.lower()
        self._origin = f"{parts.scheme}://{self._host}"
        self._base = self._origin + parts.path.rstrip("/")
        self._secure = parts.scheme == "https"

    async def __aenter__(self) -> Approvals:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        now = self._clock()
        for record in self._records.values():
            record.end("closed", now)
        if self._listener is not None:
            self._listener.should_exit = True
        tg, self._tg = self._tg, None
        assert tg is not None
        return await tg.__aexit__(kind, exc, tb)

    async def start(self) -> str:
        """The base URL of the pages; on loopback, serving starts now if it has not yet."""
        async with self._starting:
            if self._base is None:
                if self._tg is None:
                    raise RuntimeError("Serve approval pages inside `async with Approvals()`, or give base_url.")
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind(("127.0.0.1", 0))
                config = uvicorn.Config(
                    self.app,
                    interface="asgi3",
                    lifespan="off",
                    access_log=False,  # the access log would write each secret URL
                    log_config=None,
                    log_level="warning",
                    proxy_headers=False,
                    server_header=False,
                    timeout_graceful_shutdown=1,
                )
                self._listener = _Listener(config)
                await self._tg.start(self._serve, self._listener, sock)
                self._configure(f"http://127.0.0.1:{sock.getsockname()[1]}")
            return self._base  # type: ignore[return-value]  # set by _configure

    async def _serve(self, listener: _Listener, sock: socket.socket, *, task_status: TaskStatus[None]) -> None:
        stopped = anyio.Event()

        async def serve() -> None:
            try:
                await listener.serve([sock])
            finally:
                stopped.set()

        with sock:
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve)
                while not listener.started:
                    if stopped.is_set():
                        raise RuntimeError("The approval page could not be served on 127.0.0.1.")
                    await anyio.sleep(0.01)
                logger.debug("Approval pages are served on 127.0.0.1")
                task_status.started()

    async def open(self, server_name: str, question: Question, ttl_s: float) -> Approval:
        """Put ``question`` on a new one-time page, open for ``ttl_s`` seconds."""
        base = await self.start()
        now = self._clock()
        self._forget(now)
        approval_id = secrets.token_urlsafe(24)
        record = _Record(server_name, question, ttl_s, now + ttl_s, f"{base}/{approval_id}")
        self._records[approval_id] = record
        return Approval(record, self._clock)

    def _forget(self, now: float) -> None:
        for approval_id, record in list(self._records.items()):
            record.settle(now)
            if record.ended is not None and now - record.ended_at > KEEP_CLOSED_S:
                del self._records[approval_id]

    # The web side.

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app of the pages: every response carries the security headers; a Host other than
        exactly this server's is refused."""
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        hosts = Headers(scope=scope).getlist("host")
        if self._host is None or hosts != [self._host]:
            refused = _notice(None, 403, "Refused", "This page is served only under its own address.")
            await refused(scope, receive, send_secured)
            return
        await self._router(scope, receive, send_secured)

    def _same_origin(self, request: Request) -> bool:
        origins = request.headers.getlist("origin")
        if origins:
            return origins == [self._origin]
        referer = request.headers.get("referer", "")
        return referer == self._origin or referer.startswith(f"{self._origin}/")

    async def _page(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        form: dict[str, str] | None = None
        if request.method == "POST":
            if not self._same_origin(request):
                return _notice(None, 403, "Refused", "Answers are accepted only from the page itself.")
            form = await _read_form(request)
        # No awaits from here on: checking and answering happen in one step.
        now = self._clock()
        record = self._records.get(approval_id)
        if record is None:
            return _notice(None, 404, "Not found", "There is no such question here.")
        record.settle(now)
        name = record.server_name
        if record.ended is not None:
            return _notice(name, 410, "This question has closed", _CLOSED[record.ended])
        cookie = request.cookies.get(COOKIE, "")
        claim = None
        if record.browser is None:
            if request.method == "POST":  # answered before any browser opened the page
                return _notice(name, 403, "Refused", "Open the page before answering.")
            if request.method == "GET":  # not HEAD: a link checker must not take the page
                claim = record.browser = secrets.token_urlsafe(24)
        elif not hmac.compare_digest(cookie.encode(), record.browser.encode()):
            if request.method == "POST":
                return _notice(name, 403, "Open in another browser", "Answer in the browser that opened it first.")
            return _notice(name, 409, "Open in another browser", "This question is open in another browser.")
        if form is None:
            page = question_page(name, record.question.sentence, record.question.lines, record.csrf, record.ttl_s)
            response = HTMLResponse(page)
            if claim is not None:
                response.set_cookie(COOKIE, claim, path=urlsplit(record.url).path, secure=self._secure,
                                    httponly=True, samesite="strict")  # fmt: skip
            return response
        if not hmac.compare_digest(form.get("csrf", "").encode(), record.csrf.encode()):
            return _notice(name, 403, "Refused", "This answer did not come from the page. Reload it and try again.")
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return _notice(name, 400, "Not understood", "Choose Approve or Deny.")
        record.end("approved" if decision == "approve" else "denied", now)
        return HTMLResponse(answered_page(name, approved=decision == "approve"))


def _notice(server_name: str | None, status: int, title: str, text: str) -> Response:
    return HTMLResponse(notice_page(server_name, title, text), status_code=status)


async def _read_form(request: Request) -> dict[str, str]:
    """A small url-encoded form; anything else, or a field given twice, reads as missing fields."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("latin-1"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items() if len(values) == 1}
