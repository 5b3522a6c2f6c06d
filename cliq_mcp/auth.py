"""Zoho OAuth as an ``httpx.Auth`` flow: header, cached token, one refresh at a time, one retry on 401.

Zoho allows at most 10 access-token requests per refresh token in 10 minutes and then blocks the
rest of the window, so the token is cached until shortly before it expires, concurrent callers
wait for a single refresh, a 401 triggers at most one refresh, and the flow never loops.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncGenerator, Callable

import anyio
import httpx

from cliq_mcp.config import CREDENTIAL_HELP, Settings
from cliq_mcp.errors import AuthenticationError, ConfigurationError

REFRESH_MARGIN_S = 120.0  # refresh this long before the token's stated expiry
TOKEN_WINDOW_S = 600.0  # Zoho: 10 token requests per refresh token per 10 minutes
TOKEN_WINDOW_MAX = 10
REAUTHORISE = (
    "Check CLIQ_CLIENT_ID, CLIQ_CLIENT_SECRET and CLIQ_REFRESH_TOKEN (and CLIQ_DC); if the refresh "
    "token was revoked, generate a new one in Zoho's API console; then restart the server."
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
        return httpx.Request(
            "POST",
            f"{s.accounts_url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": s.client_id,
                "client_secret": s.client_secret.get_secret_value(),
                "refresh_token": s.refresh_token.get_secret_value(),
            },
        )

    def _store(self, response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        # Zoho reports token failures as HTTP 200 with an "error" field: check the body, not the status.
        if not isinstance(body, dict) or "error" in body or not isinstance(body.get("access_token"), str):
            error = body.get("error") if isinstance(body, dict) else None
            if response.status_code >= 500 or (error is None and response.status_code != 200):
                raise AuthenticationError(
                    f"Zoho's token endpoint failed (HTTP {response.status_code}).",
                    "Try again shortly.",
                    status=response.status_code,
                )
            detail = str(error or "no access token in the answer")[:80]
            failure = AuthenticationError(
                f"Zoho refused to refresh the access token ({detail}).", REAUTHORISE, status=401, code=detail
            )
            if "too many" not in str(body).lower():
                self._failure = failure  # a bad client or revoked refresh token: don't ask again
            raise failure
        self._token = body["access_token"]
        expires_in = body.get("expires_in")
        if isinstance(expires_in, int | float) and expires_in > 0:
            # Documented in seconds; one Zoho client treats it as milliseconds: above a day, it is ms.
            seconds = expires_in / 1000 if expires_in > 86400 else expires_in
            self._expires_at = self._clock() + max(seconds - REFRESH_MARGIN_S, seconds / 2)
        else:
            self._expires_at = self._clock() + 3000

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._settings.auth_mode == "none":
            raise ConfigurationError("No Zoho Cliq credentials are configured.", CREDENTIAL_HELP)
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
