"""Zoho OAuth: the token exchange, and an ``httpx.Auth`` flow (header, cached token, one refresh at a
time, one retry on 401).

The exchange (``token_request`` + ``read_token_answer``) is shared by the server's ``ZohoAuth`` and
``cliq-mcp auth``, so Zoho's answers are read in one place. Zoho allows at most 10 access-token
requests per refresh token in 10 minutes and then blocks the rest of the window, so the flow caches
the token until shortly before it expires, concurrent callers wait for a single refresh, a 401
triggers at most one refresh, and the flow never loops.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from math import ceil
from typing import Protocol

import anyio
import httpx

from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import AuthenticationError, ConfigurationError, Paced, Throttled
from cliq_mcp.core.logs import Redactor, learn_secret

REFRESH_MARGIN_S = 120.0  # refresh this long before the token's stated expiry
TOKEN_WINDOW_S = 600.0  # Zoho: 10 token requests per refresh token per 10 minutes
TOKEN_WINDOW_MAX = 10
TOKEN_TIMEOUT_S = 15.0
REAUTHORISE = (
    "Check CLIQ_CLIENT_ID, CLIQ_CLIENT_SECRET and CLIQ_REFRESH_TOKEN (and CLIQ_DC), or run `cliq-mcp auth` "
    "again; if the refresh token was revoked, generate a new one in Zoho's API console; then restart the server."
)
# OAuth error names that say "not now" rather than "never" (RFC 6749 5.2 / 4.1.2.1).
TRANSIENT_OAUTH_ERRORS = {"server_error", "temporarily_unavailable"}


class TokenRefused(AuthenticationError):
    """The accounts server refused the grant itself (``invalid_code``, ``invalid_client``, ...): asking
    again with the same credentials cannot work. ``code`` is Zoho's error name."""


@dataclass(frozen=True)
class TokenAnswer:
    """What a successful token request gave. Secrets stay out of ``repr``."""

    access_token: str = field(repr=False)
    expires_in: float | None  # seconds (Zoho's milliseconds converted); None when not stated
    refresh_token: str | None = field(default=None, repr=False)  # only from an authorization_code grant
    scope: str | None = None


def refresh_grant(settings: Settings) -> dict[str, str]:
    """The form that trades the configured refresh token for an access token (the server's and `auth status`'s)."""
    assert settings.client_id and settings.client_secret and settings.refresh_token
    return {
        "grant_type": "refresh_token",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret.get_secret_value(),
        "refresh_token": settings.refresh_token.get_secret_value(),
    }


def token_request(accounts_url: str, grant: Mapping[str, str], *, timeout: float = TOKEN_TIMEOUT_S) -> httpx.Request:
    """The token POST for one grant form (``grant_type`` plus its fields), form-encoded as Zoho documents."""
    return httpx.Request(
        "POST",
        f"{accounts_url.rstrip('/')}/oauth/v2/token",
        data=dict(grant),
        headers={"Accept": "application/json", "User-Agent": "cliq-mcp"},
        # A request built by hand has no timeout of its own; the client's would not apply to it.
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )


def read_token_answer(response: httpx.Response, secrets: Iterable[str] = ()) -> TokenAnswer:
    """Zoho's answer to ``token_request``, or the reason there is no token.

    Raises ``TokenRefused`` for a refusal that retrying cannot fix, ``Throttled`` for "too many
    requests" (Zoho's 10 a refresh token in 10 minutes), and a plain ``AuthenticationError`` for what
    may pass: a 5xx, an answer that is not JSON (a gateway page), or one without an access token.
    Zoho reports refusals as HTTP 200 with an ``error`` field, so the body decides, not the status.
    """
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthenticationError(
            f"Zoho's token endpoint answered HTTP {status} without a token (not a JSON object).", "Try again shortly.",
            status=status,
        )  # fmt: skip
    error = body.get("error")
    if error is not None:
        # Zoho's error may echo what was sent (the client secret): redacted whole before anything is cut.
        detail = "".join(c for c in Redactor(secrets).redact(str(error)) if c.isprintable())[:80]
        if "too many" in str(body).lower():
            raise Throttled(
                f"Zoho refused the token request: too many token requests in the last 10 minutes ({detail}).",
                "Wait a few minutes and try again.",
                status=status,
                code=detail,
                retry_after=None,
            )
        if status >= 500 or detail in TRANSIENT_OAUTH_ERRORS:
            raise AuthenticationError(
                f"Zoho's token endpoint failed (HTTP {status}, {detail}).", "Try again shortly.", status=status
            )
        raise TokenRefused(f"Zoho refused the token request ({detail}).", REAUTHORISE, status=401, code=detail)
    access = body.get("access_token")
    # A token goes into a header: only visible ASCII can (anything else would fail every request unsent).
    if status != 200 or not isinstance(access, str) or not re.fullmatch(r"[\x21-\x7e]{4,4096}", access):
        raise AuthenticationError(
            f"Zoho's token endpoint answered HTTP {status} without an access token.", "Try again shortly.",
            status=status,
        )  # fmt: skip
    expires_in = body.get("expires_in")
    seconds: float | None = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        # Documented in seconds; one Zoho client treats it as milliseconds: above a day, it is ms.
        seconds = expires_in / 1000 if expires_in > 86400 else float(expires_in)
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return TokenAnswer(
        access_token=access,
        expires_in=seconds,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=str(scope) if scope else None,
    )


class Shelf(Protocol):
    """What ZohoAuth needs of the shared state store (state_store.StateStore) to share one access token among
    every process of the account."""

    async def hold(self, key: str, ttl_s: float) -> bool: ...

    async def release(self, key: str) -> None: ...

    async def get(self, key: str) -> tuple[str, float] | None: ...

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None: ...

    async def admit(self, key: str, limit: int, window_s: float) -> float: ...


LEASE_S = 30.0  # one process asks Zoho for the account's token at a time; a lease a dead process held ends
WAIT_FOR_OTHER_S = 20.0  # how long a process waits for the token another is fetching
POLL_S = 0.25
BLOCKED_S = 600.0  # Zoho blocks a refresh token for the rest of its 10-minute window once throttled


class ZohoAuth(httpx.Auth):
    """Zoho OAuth for every request: the access token in force, refreshed ahead of its expiry, one refresh at a
    time, at most one per 401. With a ``shelf`` (the state store), the token is the account's: every process
    and replica reuses the one fetched last, one process fetches at a time, at most 10 token requests are made
    per 10 minutes for the account, and a Zoho throttle is remembered until its window ends."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        shelf: Shelf | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._token: str | None = settings.access_token.get_secret_value() if settings.access_token else None
        self._expires_at: float | None = None  # None: a static token, or not known
        self._lock = anyio.Lock()
        self._requests: deque[float] = deque()
        self._failure: AuthenticationError | None = None  # a refusal that retrying cannot fix
        self._shelf = shelf
        self._holding = False  # this process holds the account's fetch lease
        self._sleep = sleep
        # The token is the grant's (client and refresh token, at its accounts server): only the same credentials
        # share it; Zoho's limits count per refresh token.
        held = [settings.accounts_url, settings.client_id or ""]
        held += [s.get_secret_value() for s in (settings.client_secret, settings.refresh_token) if s]
        grant = hashlib.sha256("\0".join(held).encode()).hexdigest()[:16]
        self._keys = {k: f"{settings.account}:token:{grant}{k}" for k in ("", "-lease", "-blocked", "-requests")}

    @property
    def _refreshable(self) -> bool:
        return self._settings.auth_mode == "refresh"

    def _stale(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and self._clock() >= self._expires_at

    async def _adopt(self, not_this: str | None) -> bool:
        """The account's token from the shelf, if one is there (other than ``not_this``, which Cliq refused)."""
        if self._shelf is None:
            return False
        kept = await self._shelf.get(self._keys[""])
        if kept is None or kept[0] == not_this:
            return False
        self._token, self._expires_at = kept[0], self._clock() + kept[1]
        learn_secret(kept[0])
        return True

    async def _must_fetch(self, not_this: str | None) -> bool:
        """Whether this process asks Zoho now (it then holds the lease): not while Zoho blocks the account, not
        over the account's 10 requests in 10 minutes, and not while another process fetches (its token is taken
        instead). False: a token was adopted."""
        if self._shelf is None:
            self._count_here()
            return True
        if await self._adopt(not_this):
            return False
        blocked = await self._shelf.get(self._keys["-blocked"])
        if blocked is not None:
            raise Paced(
                "Zoho refused this account's token requests (too many in 10 minutes); it is not asked again until "
                f"its window ends, in about {ceil(blocked[1])} s.",
                "Wait, then try again.", code="token_blocked", retry_after=blocked[1],
            )  # fmt: skip
        waited = 0.0
        while not await self._shelf.hold(self._keys["-lease"], LEASE_S):
            if waited >= WAIT_FOR_OTHER_S:
                break  # the other fetch is taking too long (or died): ask, within the account's budget
            await self._sleep(POLL_S)
            waited += POLL_S
            if await self._adopt(not_this):
                return False
        else:
            self._holding = True
            if await self._adopt(not_this):  # the one that held the lease before got a token meanwhile
                await self._let_go()
                return False
        wait = await self._shelf.admit(self._keys["-requests"], TOKEN_WINDOW_MAX, TOKEN_WINDOW_S)
        if wait > 0:
            await self._let_go()
            raise AuthenticationError(
                "Too many token refreshes for this account in the last 10 minutes; Zoho would block its refresh "
                f"token. Try again in {ceil(wait)} s.", "Wait a few minutes and try again.", status=429,
            )  # fmt: skip
        return True

    async def _let_go(self) -> None:
        """Give the fetch lease back, if this process holds it (never another's)."""
        if self._holding and self._shelf is not None:
            self._holding = False
            await self._shelf.release(self._keys["-lease"])

    def _count_here(self) -> None:
        now = self._clock()
        while self._requests and now - self._requests[0] > TOKEN_WINDOW_S:
            self._requests.popleft()
        if len(self._requests) >= TOKEN_WINDOW_MAX:
            raise AuthenticationError(
                "Too many token refreshes in the last 10 minutes; Zoho would block this refresh token.",
                "Wait a few minutes and try again.",
                status=429,
            )
        self._requests.append(now)

    def _token_request(self) -> httpx.Request:
        s = self._settings
        return token_request(s.accounts_url, refresh_grant(s), timeout=s.timeout)

    async def _store(self, response: httpx.Response) -> None:
        """Keep the token Zoho answered with, shared with the account's other processes before the fetch lease is
        given back (given back first, another process could take the lease, find no token yet, and ask again)."""
        try:
            try:
                answer = read_token_answer(response, self._settings.secrets())
            except TokenRefused as exc:
                self._failure = exc  # a bad client or a revoked refresh token: don't ask again
                raise
            except Throttled:
                if self._shelf is not None:  # every process of the account: not again until the window ends
                    await self._shelf.put(self._keys["-blocked"], "1", BLOCKED_S, secret=False)
                raise
            # Anything else (5xx, a gateway page, no token) may pass: a later call asks again.
            self._token = answer.access_token
            learn_secret(answer.access_token)  # hidden from logs and tool results from now on
            lifetime = answer.expires_in if answer.expires_in is not None else 3600.0
            usable = max(lifetime - REFRESH_MARGIN_S, lifetime / 2)
            self._expires_at = self._clock() + usable
            if self._shelf is not None:
                await self._shelf.put(self._keys[""], answer.access_token, usable)
        finally:
            await self._let_go()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._settings.problem is not None:
            raise self._settings.problem
        if self._settings.auth_mode == "none":
            raise ConfigurationError("No Zoho Cliq credentials are configured.", self._settings.setup_help)
        if self._failure is not None:
            raise self._failure
        if self._refreshable and self._stale():
            async with self._lock:
                if self._stale() and await self._must_fetch(None):  # another caller or process may have one
                    try:
                        token_response = yield self._token_request()
                        await token_response.aread()
                    except BaseException:  # given up on (a stall, a cancelled call): the lease goes back
                        with anyio.CancelScope(shield=True):
                            await self._let_go()
                        raise
                    await self._store(token_response)
        used = self._token
        request.headers["Authorization"] = f"Zoho-oauthtoken {used}"
        response = yield request
        if response.status_code != 401 or not self._refreshable:
            return
        async with self._lock:
            # Nobody here refreshed since this request was sent, and no other process has a newer token.
            if self._token == used and await self._must_fetch(used):
                try:
                    token_response = yield self._token_request()
                    await token_response.aread()
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await self._let_go()
                    raise
                await self._store(token_response)
        request.headers["Authorization"] = f"Zoho-oauthtoken {self._token}"
        yield request
