"""Zoho OAuth: the token exchange, and an ``httpx.Auth`` flow (header, cached token, one refresh at a
time, one retry on 401).

The exchange (``token_request`` + ``read_token_answer``) is shared by the server's ``ZohoAuth`` and
``cliq-mcp auth``, so Zoho's answers are read in one place. Zoho allows at most 10 access-token
requests per refresh token in 10 minutes and then blocks the rest of the window, so the flow caches
the token until shortly before it expires, concurrent callers wait for a single refresh, a 401
triggers at most one refresh, and the flow never loops.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import anyio
import httpx

from cliq_mcp.config import Settings
from cliq_mcp.errors import AuthenticationError, ConfigurationError, Throttled
from cliq_mcp.logs import Redactor, learn_secret

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
    if status != 200 or not isinstance(access, str) or not access.strip():
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


class ZohoAuth(httpx.Auth):
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._token: str | None = settings.access_token.get_secret_value() if settings.access_token else None
        self._expires_at: float | None = None  # None: a static token, or not known
        self._lock = anyio.Lock()
        self._requests: deque[float] = deque()
        self._failure: AuthenticationError | None = None  # a refusal that retrying cannot fix

    @property
    def _refreshable(self) -> bool:
        return self._settings.auth_mode == "refresh"

    def _stale(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and self._clock() >= self._expires_at

    def _token_request(self) -> httpx.Request:
        s = self._settings
        assert s.client_id and s.client_secret and s.refresh_token
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
        grant = {
            "grant_type": "refresh_token",
            "client_id": s.client_id,
            "client_secret": s.client_secret.get_secret_value(),
            "refresh_token": s.refresh_token.get_secret_value(),
        }
        return token_request(s.accounts_url, grant, timeout=s.timeout)

    def _store(self, response: httpx.Response) -> None:
        try:
            answer = read_token_answer(response, self._settings.secrets())
        except TokenRefused as exc:
            self._failure = exc  # a bad client or a revoked refresh token: don't ask again
            raise
        # Anything else (throttled, 5xx, a gateway page, no token) may pass: a later call asks again.
        self._token = answer.access_token
        learn_secret(answer.access_token)  # hidden from logs and tool results from now on
        if answer.expires_in is not None:
            self._expires_at = self._clock() + max(answer.expires_in - REFRESH_MARGIN_S, answer.expires_in / 2)
        else:
            self._expires_at = self._clock() + 3000

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._settings.problem is not None:
            raise self._settings.problem
        if self._settings.auth_mode == "none":
            raise ConfigurationError("No Zoho Cliq credentials are configured.", self._settings.setup_help)
        if self._failure is not None:
            raise self._failure
        if self._refreshable and self._stale():
            async with self._lock:
                if self._stale():  # another caller may have refreshed while we waited
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._store(token_response)
        used = self._token
        request.headers["Authorization"] = f"Zoho-oauthtoken {used}"
        response = yield request
        if response.status_code != 401 or not self._refreshable:
            return
        async with self._lock:
            if self._token == used:  # nobody refreshed since this request was sent
                token_response = yield self._token_request()
                await token_response.aread()
                self._store(token_response)
        request.headers["Authorization"] = f"Zoho-oauthtoken {self._token}"
        yield request
