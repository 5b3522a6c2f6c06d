"""CliqClient: the one place HTTP happens, and the one HTTP -> ``CliqError`` ladder.

The transport is the seam: the real network, the embedded sandbox (``httpx.ASGITransport``) and
the tests' loopback server all go through this same code.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx

from cliq_mcp.cliq.auth import Shelf, ZohoAuth
from cliq_mcp.cliq.pacing import LocalWindows, Pacer, Windows
from cliq_mcp.cliq.wire import RateLimit, Wire
from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import (
    ApiError,
    AuthenticationError,
    CliqError,
    NotFound,
    PermissionDenied,
    ServerError,
    Throttled,
    TransportError,
)
from cliq_mcp.core.logs import Redactor
from cliq_mcp.core.text import clean, quoted
from cliq_mcp.tools.plans import PLAN_TTL_S, Keeper, LocalKeeper, Plans

logger = logging.getLogger(__name__)
# The request extension an attempt travels with: its own list of what left (the client's request hook, which httpx
# calls right before the request goes to the transport, after the token is in hand, fills it; time spent before
# that -- the state store, the token, pacing -- can never make a write "may have been applied"), and the call's
# list of the writes that left (so an unexpected failure can say whether anything may have been applied).
_LEAVING = "cliq_mcp_leaving"

# How a request reaches Cliq: the network (None), the embedded sandbox, or the tests' simulated Cliq. Only the
# HTTP layer (this module, auth, signin) imports httpx; everything else names a transport by this alias.
Transport = httpx.AsyncBaseTransport


def sandbox_transport(rate_limits: bool = True) -> Transport:
    """The embedded simulated workspace, reached in-process (``--sandbox``)."""
    from cliq_mcp.sandbox import Workspace, create_app  # imported only when the sandbox is used

    return httpx.ASGITransport(app=create_app(Workspace(rate_limits=rate_limits)))


THROTTLE_CODES = {"rate_limit_exceeded", "request_limit_exceeded"}
ATTEMPTS = 3  # for reads, and for writes that never left
RECENT_S = 30.0  # a read this recent may build a question (never the read before an act)
RECENT_KEPT = 64
DEADLINE_S = 25.0  # all attempts of one call, inside a client's usual 30 s request timeout
MAX_RETRY_AFTER_S = 5.0  # a Retry-After we wait for once; a longer one is reported instead
RETRY_STATUSES = {200, 500, 502, 503, 504}  # 200: an answer that was not JSON
CHECK_FIRST = "check (e.g. with get_chat) before repeating it."


def _body(response: httpx.Response, redactor: Redactor) -> tuple[str | None, str | None]:
    """(code, message) from any of Cliq's three error shapes; (None, None) if not JSON."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if not isinstance(body, dict):
        return None, None
    code = body.get("code")
    message = body.get("message")
    return (
        clean(redactor.redact(str(code)), 80) if code is not None else None,
        clean(redactor.redact(str(message)), 200) if message is not None else None,
    )


RETRY_AFTER_MOST_S = 86400.0  # a Retry-After beyond a day is not a wait anyone should be told to make
DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # RFC 9110's delay-seconds (digits), a fraction tolerated


def _retry_after(response: httpx.Response) -> float | None:
    """Cliq's Retry-After in seconds, at most a day; None for anything else Cliq might say: an HTTP date,
    "1e309", "inf", "NaN", "-1", and "-0", which float() took and the hint printed as "Retry after -0 s."."""
    value = response.headers.get("retry-after", "").strip()
    if not DELAY_SECONDS.fullmatch(value):
        return None
    return min(float(value), RETRY_AFTER_MOST_S)  # 400 digits parse as inf: a day too


def error_for(response: httpx.Response, rate: RateLimit, redactor: Redactor) -> ApiError:
    status = response.status_code
    code, message = _body(response, redactor)
    said = f" Cliq said: {quoted(message, 200)}" if message else ""  # other people's words: quoted, as data
    tag = f" ({code})" if code else ""
    if status == 429 or code in THROTTLE_CODES:
        retry_after = _retry_after(response)
        lock = f" Cliq may refuse this operation for up to {rate.lock}." if rate.lock else ""
        return Throttled(
            f"Cliq throttled this request (limit about {rate.per_minute} a minute).{lock}",
            f"Retry after {retry_after:g} s." if retry_after is not None else "Do not retry it now.",
            status=status,
            code=code,
            retry_after=retry_after,
        )
    if status == 401:
        return AuthenticationError(
            f"Cliq rejected the access token (HTTP 401).{said}",
            "Check the credentials (CLIQ_ACCESS_TOKEN expires after an hour; a refresh token avoids that).",
            status=status,
            code=code,
        )
    if status == 403:
        return PermissionDenied(
            f"Cliq refused access (HTTP 403{tag}).{said}",
            f"This operation needs the OAuth scope {rate.scope}, and you must be a member of the chat.",
            status=status,
            code=code,
        )
    if status == 404:
        return NotFound(
            f"Not found (HTTP 404{tag}).{said}",
            "Check the id: list_chats or search_chats show the chats you can use.",
            status=status,
            code=code,
        )
    if status >= 500 or (code is None and message is None):
        return ServerError(
            f"Cliq failed with HTTP {status}{tag}.{said}",
            "This is on Cliq's side; try again in a little while.",
            status=status,
            code=code,
        )
    refused = code is not None and code.endswith(("_not_supported", "_not_allowed"))  # e.g. renaming a contact
    hint = "Cliq does not allow this for this chat: no argument changes that." if refused else ""
    return ApiError(
        f"Cliq refused the request (HTTP {status}{tag}).{said}",
        hint or "Correct the arguments and try again.",
        status=status,
        code=code,
    )


class CliqClient:
    """One lazily created ``httpx.AsyncClient`` per process: start-up never touches the network."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        windows: Windows | None = None,
        shelf: Shelf | None = None,
        keeper: Keeper | None = None,
    ) -> None:
        """``windows``: where pacing is counted, normally the shared state store (one budget per account);
        None: in this process's memory, on ``clock``. ``shelf``: where the account's access token is shared
        (the state store too); None: each process fetches its own."""
        self.settings = settings
        self._transport = transport
        self._sleep = sleep  # backoff and Retry-After waits
        self._clock = clock  # the overall deadline
        self._auth = ZohoAuth(settings, clock=clock, shelf=shelf, sleep=sleep)
        windows = windows or LocalWindows(clock)
        self._pacer = Pacer(windows, settings.account, sleep=sleep) if settings.pacing else None
        # Cliq may echo a secret back (an error quoting the token, a chat titled with a pasted key): hidden
        # here, before any summary shortens it into a prefix that no longer matches.
        self._redactor = Redactor(settings.secrets())
        self._http: httpx.AsyncClient | None = None
        self._recent: dict[str, tuple[float, Any]] = {}  # the last reads' answers (send's ``recent``)
        # Why the Users API does not answer this token ("scope" or "absent"), once learnt: not asked again by this
        # process (a 401 there would cost a token refresh on every call).
        self.users_api_refused: str | None = None
        # Signs the cursors a walk hands out (housekeeping.Cursor): the same for every process and replica of
        # these credentials, unknown to the model.
        # Every process and replica of the account: a shared guard secret (CLIQ_GUARD_SECRET) with the account, so
        # that replicas of an account named by CLIQ_ACCOUNT continue each other's walks whatever their credentials.
        shared = settings.guard.secret.get_secret_value() if settings.guard.secret else None
        held = f"{shared}|{settings.account}" if shared else "\0".join(sorted(settings.secrets()))
        self.cursor_key = hashlib.sha256(f"cursor|{held}".encode()).digest() if held else secrets.token_bytes(32)
        # The account's plans (plan_tidy's handles): in the store too, else in this process's memory.
        self.plans = Plans(keeper or LocalKeeper(clock), settings.account, max(settings.guard.token_ttl, PLAN_TTL_S))

    def write_barred(self, chat_id: str) -> str:
        """Why this server may not write to the chat (CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS), or "": what the
        guard refuses, for a plan that should not propose it."""
        if self.settings.guard.may_write(chat_id):
            return ""
        return "this server may not write to it (CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS)"

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.api_base_url + "/",
                auth=self._auth,
                transport=self._transport,
                headers={"Accept": "application/json", "User-Agent": "cliq-mcp"},
                follow_redirects=False,
                event_hooks={"request": [self._leaving]},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    def now(self) -> float:
        return self._clock()

    async def room(self, rate: RateLimit, need: int = 1) -> tuple[int, float] | None:
        """How many ``rate`` requests the account may send now and the seconds until it may send ``need``; None
        when it is not paced."""
        return await self._pacer.room(rate, need) if self._pacer is not None else None

    async def _leaving(self, request: httpx.Request) -> None:
        """httpx: a request is about to go out. The token endpoint's carry no lists: they are not the call's own."""
        lists = request.extensions.get(_LEAVING)
        if lists is not None:
            left, sent = lists
            left.append(request.method)
            if request.method != "GET" and sent is not None:
                sent.append(request.url.path)

    async def send(self, wire: Wire, rate: RateLimit, *, recent: bool = False, sent: list[str] | None = None) -> Any:
        """Send one request; return the parsed JSON body (``None`` for 204) or raise ``CliqError``. ``recent``: a
        read may be answered by the same read made in the last ``RECENT_S`` (a question put to a person is built
        from it; the read right before acting never is). ``sent``: the call's list of the writes that left, which
        a write's path joins as it leaves."""
        key = json.dumps([wire.api, wire.path, sorted(wire.params.items())]) if wire.method == "GET" else None
        kept = self._recent.get(key) if key is not None and recent else None
        if kept is not None and self._clock() - kept[0] <= RECENT_S:
            return copy.deepcopy(kept[1])
        if key is None:
            self._recent.clear()  # a write may change what any earlier read said
        answer = await self._send(wire, rate, sent)
        if key is not None:
            self._recent[key] = (self._clock(), answer)
            while len(self._recent) > RECENT_KEPT:
                self._recent.pop(next(iter(self._recent)))
        return answer

    async def _send(self, wire: Wire, rate: RateLimit, sent: list[str] | None) -> Any:
        """Send one request; return the parsed JSON body (``None`` for 204) or raise ``CliqError``.

        Reads (GET) are retried on 5xx, dropped connections, garbled answers and timeouts, a few times
        with jittered backoff, within an overall deadline. A write is repeated only when it provably
        never left (the connection could not be made), or once after a short ``Retry-After`` (Cliq
        refused it). Otherwise a failed write is reported with what is known.
        """
        read = wire.method == "GET"
        url = wire.path.lstrip("/")
        if wire.api == "v2":
            v2 = self.settings.users_api_base_url
            if v2 is None:
                raise NotFound(
                    "No v2 API next to CLIQ_API_BASE_URL (it does not end in /v3).", "", status=404, code=None
                )
            url = f"{v2}/{url}"  # absolute: httpx leaves the v3 base_url aside
        deadline = self._clock() + DEADLINE_S
        waited_for_cliq = False
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            if self._pacer is not None:
                await self._pacer.wait(rate)
            remaining = deadline - self._clock()
            budget = min(self.settings.timeout, remaining)
            left: list[str] = []
            try:
                # httpx's timeouts bound each read; this bounds the whole answer (a trickling body too).
                with anyio.fail_after(budget):
                    response = await self._client().request(
                        wire.method,
                        url,
                        params=wire.params or None,
                        json=wire.json,
                        timeout=httpx.Timeout(budget, connect=min(5.0, budget)),
                        extensions={_LEAVING: (left, sent)},
                    )
                result = _parse(response, rate, self._redactor)
            except CliqError as exc:
                retry_in = _retry_in(exc, read, waited_for_cliq)
                if retry_in is None or last or self._clock() + retry_in >= deadline:
                    if not read and isinstance(exc, ServerError):
                        exc.hint = f"The change may or may not have been applied: {CHECK_FIRST}"
                    raise
                waited_for_cliq = waited_for_cliq or isinstance(exc, Throttled)
            except httpx.LocalProtocolError as exc:  # refused here, before a byte was written: not sent
                raise TransportError(
                    f"Not sent: the request could not be written ({type(exc).__name__}).",
                    "This is a fault on this side; try again, and report it if it persists.",
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # The request never left: safe to try again, writes included.
                if last or self._clock() + _backoff(attempt) >= deadline:
                    if _for_a_token(exc):  # the access token's request, to Zoho's accounts server
                        raise TransportError(
                            f"Could not reach Zoho's accounts server for an access token ({type(exc).__name__}).",
                            "Check the network and CLIQ_DC / CLIQ_ACCOUNTS_URL, then try again.",
                        ) from None
                    raise TransportError(
                        f"Could not reach Cliq ({type(exc).__name__}).",
                        "Check the network and CLIQ_DC / CLIQ_API_BASE_URL, then try again.",
                    ) from None
                retry_in = _backoff(attempt)
            except (httpx.TransportError, TimeoutError) as exc:  # timeouts, dropped connections: it may have arrived
                stalled = isinstance(exc, httpx.TimeoutException | TimeoutError)
                if not left:  # the time went before the request left (the token, the state store): not sent
                    raise TransportError(
                        f"Not sent: getting ready to send took too long ({type(exc).__name__}: the access token or "
                        "the state store), so the request never left.", "Try again in a little while.",
                    ) from None  # fmt: skip
                if not read or last or self._clock() + _backoff(attempt) >= deadline:
                    what = "did not answer in time" if stalled else "closed the connection without an answer"
                    raise TransportError(
                        f"Cliq {what} ({type(exc).__name__}).",
                        "Try again in a little while."
                        if read
                        else f"The change may or may not have been applied: {CHECK_FIRST}",
                    ) from None
                retry_in = _backoff(attempt)
            else:
                return self._redactor.redact_all(result)
            logger.info("%s %s: attempt %d failed, retrying in %.2f s", wire.method, wire.path, attempt, retry_in)
            await self._sleep(retry_in)
        raise AssertionError("unreachable")  # the last attempt always returns or raises


def _backoff(attempt: int) -> float:
    return min(2.0, 0.25 * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5)


def _retry_in(exc: CliqError, read: bool, waited_for_cliq: bool) -> float | None:
    """Seconds to wait before trying again after Cliq's answer, or None not to try again."""
    if isinstance(exc, Throttled):
        # Cliq refused it, so repeating is safe, but only after a short Retry-After, and only once:
        # retrying a throttled call otherwise extends Cliq's lock.
        if exc.status and exc.retry_after is not None and exc.retry_after <= MAX_RETRY_AFTER_S and not waited_for_cliq:
            return exc.retry_after
        return None
    if read and isinstance(exc, ServerError) and exc.status in RETRY_STATUSES:
        return _backoff(1)
    return None


def _parse(response: httpx.Response, rate: RateLimit, redactor: Redactor) -> Any:
    logger.debug("%s %s -> %s", response.request.method, response.request.url.path, response.status_code)
    if response.status_code == 204 or (response.status_code == 200 and not response.content):
        if response.request.method == "GET":  # a read always has an answer: an empty one is garbled
            raise ServerError("Cliq answered a read with an empty body.", "Try again in a little while.", status=200)
        return None
    if response.status_code >= 300:
        raise error_for(response, rate, redactor)
    try:
        return response.json()
    except ValueError:
        raise ServerError(
            f"Cliq answered HTTP {response.status_code} with something that is not JSON.",
            "This is on Cliq's side; try again in a little while.",
            status=response.status_code,
        ) from None


def _for_a_token(exc: httpx.RequestError) -> bool:
    """Whether the request that failed was the access token's (``/oauth/v2/token``), not Cliq's."""
    try:
        return exc.request.url.path.endswith("/oauth/v2/token")
    except RuntimeError:  # httpx did not say which request it was
        return False
