"""The simulated Zoho accounts server: access and refresh tokens, self-client codes, the token endpoint.

Token-endpoint failures are HTTP 200 with an ``error`` field, as the notes say; only the bodies differ.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ALL_SCOPES: frozenset[str] = frozenset(
    {
        "ZohoCliq.Chats.READ",
        "ZohoCliq.Chats.CREATE",
        "ZohoCliq.Chats.UPDATE",
        "ZohoCliq.Chats.DELETE",
        "ZohoCliq.Messages.UPDATE",
    }
)
USERS_READ = "ZohoCliq.Users.READ"  # the v2 Users API; not among ALL_SCOPES (the chat scopes)
ACCESS_TOKEN_SECONDS = 3600
TOKEN_REQUESTS_PER_WINDOW = 10
TOKEN_WINDOW_SECONDS = 600.0
API_DOMAIN = "https://www.zohoapis.com"

TOO_MANY_REQUESTS = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
}


@dataclass
class AccessToken:
    scopes: frozenset[str]
    expires_at: float
    refresh_token: str | None = None


@dataclass
class RefreshToken:
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class AuthCode:
    scopes: frozenset[str]
    expires_at: float
    used: bool = False


class TokenStore:
    """Every token the accounts server knows; the API checks access tokens here."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        rng: random.Random,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_tokens: Mapping[str, frozenset[str]],
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_tokens: dict[str, RefreshToken] = {refresh_token: RefreshToken(ALL_SCOPES)}
        # assumption: the tokens given to the constructor never expire (tests expire them explicitly).
        self.access_tokens: dict[str, AccessToken] = {
            token: AccessToken(frozenset(scopes), math.inf) for token, scopes in access_tokens.items()
        }
        self.codes: dict[str, AuthCode] = {}
        self._history: dict[str, deque[float]] = {}

    def scopes_of(self, token: str) -> frozenset[str] | None:
        """The scopes of a live access token, or None if it is unknown, expired or revoked."""
        entry = self.access_tokens.get(token)
        if entry is None or entry.expires_at <= self.clock():
            return None
        return entry.scopes

    def issue_auth_code(self, scopes: frozenset[str] = ALL_SCOPES, valid_for: float = 180.0) -> str:
        """A self-client grant code (valid 3 minutes by default, usable once)."""
        code = f"1000.{self._hex(32)}.{self._hex(32)}"
        self.codes[code] = AuthCode(frozenset(scopes), self.clock() + valid_for)
        return code

    def expire(self, token: str) -> None:
        self.access_tokens[token].expires_at = self.clock()

    def exchange(self, params: Mapping[str, str], *, limited: bool) -> dict[str, Any]:
        """Answer ``POST /oauth/v2/token`` (always HTTP 200)."""
        grant = params.get("grant_type")
        if grant not in ("refresh_token", "authorization_code"):
            # assumption: the error name for a missing or unknown grant type.
            return {"error": "unsupported_grant_type"}
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            return {"error": "invalid_client"}
        if grant == "authorization_code":
            return self._from_code(params.get("code", ""))
        refresh = params.get("refresh_token", "")
        entry = self.refresh_tokens.get(refresh)
        if entry is None or entry.revoked:
            return {"error": "invalid_code"}
        if limited and not self._admit(refresh):
            return dict(TOO_MANY_REQUESTS)
        return self._mint(entry.scopes, refresh)

    def revoke(self, token: str) -> dict[str, Any]:
        """Answer ``POST /oauth/v2/token/revoke``.

        assumption: revoking a refresh token also ends the access tokens minted from it; an access
        token can be revoked too; the answer is ``{"status": "success"}``, or HTTP 200
        ``{"error": "invalid_token"}`` for an unknown token.
        """
        if token in self.refresh_tokens and not self.refresh_tokens[token].revoked:
            self.refresh_tokens[token].revoked = True
            for entry in self.access_tokens.values():
                if entry.refresh_token == token:
                    entry.expires_at = min(entry.expires_at, self.clock())
            return {"status": "success"}
        if token in self.access_tokens:
            self.expire(token)
            return {"status": "success"}
        return {"error": "invalid_token"}

    def _from_code(self, code: str) -> dict[str, Any]:
        entry = self.codes.get(code)
        if entry is None or entry.used or entry.expires_at <= self.clock():
            return {"error": "invalid_code"}
        entry.used = True
        refresh = f"1000.{self._hex(32)}.{self._hex(32)}"
        self.refresh_tokens[refresh] = RefreshToken(entry.scopes)
        return {**self._mint(entry.scopes, refresh), "refresh_token": refresh}

    def _admit(self, refresh: str) -> bool:
        # At most 10 token requests per refresh token in any 10 minutes; refused ones do not count.
        now = self.clock()
        history = self._history.setdefault(refresh, deque())
        while history and history[0] <= now - TOKEN_WINDOW_SECONDS:
            history.popleft()
        if len(history) >= TOKEN_REQUESTS_PER_WINDOW:
            return False
        history.append(now)
        return True

    def _mint(self, scopes: frozenset[str], refresh: str) -> dict[str, Any]:
        token = f"1000.{self._hex(32)}.{self._hex(32)}"
        self.access_tokens[token] = AccessToken(scopes, self.clock() + ACCESS_TOKEN_SECONDS, refresh)
        return {
            "access_token": token,
            "api_domain": API_DOMAIN,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }

    def _hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))
