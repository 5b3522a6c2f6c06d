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

import contextlib
import hashlib
import hmac
import json
import logging
import math
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, Literal
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

from cliq_mcp.core.errors import StateUnavailable
from cliq_mcp.core.state_store import USED, MemoryStore, StateStore
from cliq_mcp.guard.approval.page import answered_page, notice_page, question_page
from cliq_mcp.guard.questions import Question

logger = logging.getLogger(__name__)

Outcome = Literal["approved", "denied", "expired", "taken"]  # taken: approved, and a call has acted on it
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
    "taken": "It was already answered.",
}


POLL_S = 0.25  # how often a waiting call looks in the store for an answer another process took


def _age(found: tuple[dict[str, Any], float]) -> float:
    """How long ago a page was shown, from its record and the seconds its page has left."""
    return max(0.0, float(found[0]["ttl"]) - found[1])


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Approval:
    """One question on one page, kept in the state store (so any process or replica of the server serves the
    page and sees its answer). ``close()`` it when the call ends, whatever the reason."""

    def __init__(self, approvals: Approvals, approval_id: str, server_name: str, question: Question) -> None:
        self._approvals, self.id, self.server_name, self.question = approvals, approval_id, server_name, question
        self._key = approvals.key(approval_id)

    @property
    def url(self) -> str:
        """The one-time page. A secret: show it only to the person asked, never log it."""
        return f"{self._approvals.base}/{self.id}"

    async def outcome(self) -> Outcome | None:
        """None while nobody has answered and time is left."""
        ended = await self._approvals.state(self._key)
        return None if ended is None else "expired" if ended == "closed" else ended  # type: ignore[return-value]

    async def shown_ago(self) -> float:
        """How long ago the page was put up (what the person saw then is what the question says)."""
        return await self._approvals.shown_ago(self._key)

    async def wait(self, timeout_s: float = DEFAULT_TIMEOUT_S, *, keep_open: bool = False) -> Outcome | None:
        """The person's answer; "expired" when the page's time or ``timeout_s`` runs out first (the page
        then closes, so a late click changes nothing) or, ``keep_open``, None when only ``timeout_s`` ran out
        (the page stays open for a later wait, until its own time ends)."""
        woken = self._approvals.event(self._key)
        with anyio.move_on_after(timeout_s):
            while (outcome := await self.outcome()) is None:
                with anyio.move_on_after(POLL_S):  # answered here: at once; by another process: within POLL_S
                    await woken.wait()
        if outcome is None and not keep_open:
            await self._approvals.end(self._key, "expired")
            outcome = await self.outcome()
        return outcome

    async def take(self) -> float | None:
        """Act on an approved page: for the one call that does (a yes acts once, whichever process and however
        many calls waited on the page), how long ago the page was shown, by the time sealed in its record, read
        in the same step; None for every other call."""
        return await self._approvals.take(self._key)

    async def close(self) -> None:
        """End the question; the page now says it has closed. Does nothing once answered."""
        with anyio.CancelScope(shield=True):  # also on the way out of a cancelled call
            await self._approvals.end(self._key, "closed")

    async def __aenter__(self) -> Approval:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def kept_or_closed(self) -> AsyncIterator[Callable[[], None]]:
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
                await self.close()


class _Listener(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The MCP server owns this process's signals; the listener stops when ``Approvals`` closes.
        yield


class Approvals:
    """The approval pages of one server, kept in ``store`` (``keep_in``; by default this process's memory).

    ``base_url`` (HTTP transport): where ``app`` is mounted as the browser sees it, e.g.
    ``https://mcp.example.com/approvals``; requests must carry exactly its host (and origin). Without it,
    ``async with Approvals()`` serves on 127.0.0.1 itself. With a shared store, every process or replica
    serving ``app`` under the same ``base_url`` serves every page, and a call waiting in one sees an answer
    given through another.
    """

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        base_url: str | None = None,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock  # the wall clock: when a page opened and until when it stands (sealed in its record)
        self._store: StateStore = store or MemoryStore(clock=clock)
        self._prefix = prefix
        self._events: dict[str, anyio.Event] = {}  # pages of calls waiting in this process: woken by an answer
        self._mine: set[str] = set()  # pages this process opened: closed when it stops serving
        self._taken: set[str] = set()  # pages a call in this process acted on: never again from here
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

    def keep_in(self, store: StateStore, prefix: str, clock: Callable[[], float] = time.time) -> None:
        """Keep the pages in ``store`` (the account's shared store), under keys starting ``prefix``. A store that
        cannot keep secrets (Redis without the guard secret) is not used: pages stay in this process."""
        if store.keeps_secrets:
            self._store, self._prefix, self._clock = store, prefix, clock

    @property
    def shared(self) -> bool:
        return not isinstance(self._store, MemoryStore)

    @property
    def base(self) -> str:
        assert self._base is not None, "start() first"
        return self._base

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
        with anyio.CancelScope(shield=True):
            for key in list(self._mine):
                try:
                    await self.end(key, "closed")
                except StateUnavailable:
                    break  # the store is gone: so are the pages
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
            return self.base

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

    # The pages in the store: a record (the question) for the page's time and KEEP_CLOSED_S after, and beside it,
    # each written once (``first``): the browser that took the page, how it ended, and the call that acted on it.

    def key(self, approval_id: str) -> str:
        """Where a page is kept: a digest of its id (the id is the URL's secret, and not a key anyone lists)."""
        return f"{self._prefix}approval:{_hash(approval_id)}"

    async def open(
        self, server_name: str, question: Question, ttl_s: float, *, withdraw: Sequence[str] = ()
    ) -> Approval:
        """Put ``question`` on a new one-time page, open for ``ttl_s`` seconds. ``withdraw``: where the yeses kept
        for what the page shows are (guard/decide.py): a Deny uses them up, whenever it is clicked."""
        await self.start()
        approval_id = secrets.token_urlsafe(24)
        # Until when it stands, in the record (sealed in Redis): a longer life given to the key gives it none.
        record = {"server": server_name, "sentence": question.sentence, "lines": list(question.lines), "ttl": ttl_s,
                  "mark": await self._store.lost_mark(), "until": self._clock() + ttl_s,
                  "withdraw": list(withdraw)}  # fmt: skip
        key = self.key(approval_id)
        if await self._store.first(key, json.dumps(record), ttl_s + KEEP_CLOSED_S) is None:
            raise RuntimeError(f"{self._store.description} cannot keep approval pages")
        self._mine.add(key)
        return Approval(self, approval_id, server_name, question)

    async def find(self, approval_id: str) -> Approval | None:
        """A page opened by any process sharing the store, while it is kept (its time and KEEP_CLOSED_S)."""
        found = await self._record(self.key(approval_id))
        if found is None:
            return None
        record = found[0]
        question = Question(record["sentence"], tuple(record["lines"]))
        return Approval(self, approval_id, record["server"], question)

    async def _record(self, key: str) -> tuple[dict[str, Any], float] | None:
        """The page's record and the seconds its page has left (≤ 0: its time to answer ran out). A page opened
        before the store last lost what it kept is gone: whether it was used since cannot be known (an earlier
        copy of the state file put back, a Redis restored from a snapshot, may hold it approved and unused)."""
        kept = await self._store.get(key)
        if kept is None:
            return None
        record = json.loads(kept[0])
        if record.get("mark") != await self._store.lost_mark() or not isinstance(record.get("until"), float | int):
            return None
        return record, min(kept[1] - KEEP_CLOSED_S, float(record["until"]) - self._clock())

    async def state(self, key: str, found: tuple[dict[str, Any], float] | None = None) -> str | None:
        """How the page ended ("approved", "denied", "taken", "expired", "closed"; None while open); ``found``:
        its record, if the caller has just read it."""
        found = found or await self._record(key)
        if found is None:
            return "closed"
        ended = await self._store.get(key + ":end")
        if ended is not None:
            return "taken" if ended[0] == USED else ended[0]
        return "expired" if found[1] <= 0 else None

    async def shown_ago(self, key: str) -> float:
        found = await self._record(key)  # a page no longer on record is older than any time limit
        return math.inf if found is None else _age(found)

    async def end(self, key: str, how: str) -> bool | str:
        """End the page ``how`` unless it ended already: True if this did, else how it had ended."""
        found = await self._record(key)
        if found is None:
            return "closed"
        won = await self._store.first(key + ":end", how, found[1] + KEEP_CLOSED_S)
        if won == how == "denied":  # the person's latest word on these chats is no: no earlier yes acts on them
            for kept in found[0].get("withdraw", []):  # used up for as long as any of them could stand
                with contextlib.suppress(StateUnavailable):
                    await self._store.take(kept, float(found[0]["ttl"]))
        self._mine.discard(key)
        if (woken := self._events.pop(key, None)) is not None:
            woken.set()
        return True if won == how else "taken" if won == USED else (won or "closed")

    async def take(self, key: str) -> float | None:
        """The one call that acts on an approved page: its end goes from "approved" to used in one atomic step, so
        of any number of calls, in any processes, one gets it, and deleting a key afterwards brings it back for
        no one (a page with no end on record is open again: only a new click approves it)."""
        found = await self._record(key)  # its time may have run out: the guard then says so, by this record
        if key in self._taken or found is None:
            return None
        if await self._store.take(key + ":end", max(found[1], 0.0) + KEEP_CLOSED_S) != "approved":
            return None
        if len(self._taken) > 10_000:  # a long-running server: the oldest have long ended (pages last minutes)
            self._taken = set(list(self._taken)[5_000:])
        self._taken.add(key)
        return _age(found)  # shown that long ago, by the record it was taken from (no second read, no gap)

    def event(self, key: str) -> anyio.Event:
        """Set when this process sees the page end (a waiting call need not wait for its next look)."""
        return self._events.setdefault(key, anyio.Event())

    async def remember(self, asked: str, approval: Approval) -> None:
        """The page still open for the question ``asked`` (a digest): the same call made again waits on it."""
        found = await self._record(approval._key)
        if found is not None and found[1] > 0:
            await self._store.put(f"{self._prefix}approval-asked:{asked}", approval.id, found[1])

    async def waiting_for(self, asked: str) -> Approval | None:
        """The page remembered for ``asked``, while it is open or approved and not yet acted on."""
        kept = await self._store.get(f"{self._prefix}approval-asked:{asked}")
        approval = await self.find(kept[0]) if kept is not None else None
        if approval is None or approval._key in self._taken:
            return None
        return approval if await approval.outcome() in (None, "approved") else None

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
        try:
            await self._router(scope, receive, send_secured)
        except StateUnavailable:  # nothing was answered: the person may try again
            busy = _notice(None, 503, "Try again", "The server could not reach its state store just now.")
            await busy(scope, receive, send_secured)

    def _same_origin(self, request: Request) -> bool:
        origins = request.headers.getlist("origin")
        if origins:
            return origins == [self._origin]
        referer = request.headers.get("referer", "")
        return referer == self._origin or referer.startswith(f"{self._origin}/")

    async def _page(self, request: Request) -> Response:
        """Each step that must happen once (taking the page for a browser, answering) is one ``first`` in the
        store: of two requests, in whichever processes, one wins and the other is told the page is taken."""
        approval_id = request.path_params["approval_id"]
        form: dict[str, str] | None = None
        if request.method == "POST":
            if not self._same_origin(request):
                return _notice(None, 403, "Refused", "Answers are accepted only from the page itself.")
            form = await _read_form(request)
        key = self.key(approval_id)
        found = await self._record(key)
        if found is None:
            return _notice(None, 404, "Not found", "There is no such question here.")
        record, left = found
        name = str(record["server"])
        ended = await self.state(key, found)
        if ended is not None:
            return _notice(name, 410, "This question has closed", _CLOSED.get(ended, _CLOSED["closed"]))
        cookie = request.cookies.get(COOKIE, "")
        browser = await self._store.get(key + ":browser")
        claim = None
        if browser is None:
            if request.method == "POST":  # answered before any browser opened the page
                return _notice(name, 403, "Refused", "Open the page before answering.")
            if request.method == "GET":  # not HEAD: a link checker must not take the page
                claim = cookie = secrets.token_urlsafe(24)
                if await self._store.first(key + ":browser", _hash(claim), left + KEEP_CLOSED_S) != _hash(claim):
                    return _notice(name, 409, "Open in another browser", "This question is open in another browser.")
        elif not hmac.compare_digest(_hash(cookie).encode(), browser[0].encode()):
            if request.method == "POST":
                return _notice(name, 403, "Open in another browser", "Answer in the browser that opened it first.")
            return _notice(name, 409, "Open in another browser", "This question is open in another browser.")
        csrf = _hash(f"csrf|{approval_id}|{cookie}")  # known only where the page was shown (HEAD: to nobody)
        if form is None:
            page = question_page(name, record["sentence"], tuple(record["lines"]), csrf, float(record["ttl"]))
            response = HTMLResponse(page)
            if claim is not None:
                response.set_cookie(COOKIE, claim, path=urlsplit(f"{self.base}/{approval_id}").path,
                                    secure=self._secure, httponly=True, samesite="strict")  # fmt: skip
            return response
        if not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
            return _notice(name, 403, "Refused", "This answer did not come from the page. Reload it and try again.")
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return _notice(name, 400, "Not understood", "Choose Approve or Deny.")
        won = await self.end(key, "approved" if decision == "approve" else "denied")
        if won is not True:  # the call ended, or time ran out, while the person was choosing
            return _notice(name, 410, "This question has closed", _CLOSED.get(str(won), _CLOSED["closed"]))
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
