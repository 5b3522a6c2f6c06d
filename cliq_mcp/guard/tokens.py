"""Confirmation tokens, and the memory of the ones already redeemed.

A token is ``v1.<expiry>.<nonce>.<target digest>.<mac>``: the MAC covers the tool, its exact arguments,
the target digest, the expiry and the nonce, under a key only this server holds. Each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from cliq_mcp.errors import NotConfirmed


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


TOKEN_SHAPE = re.compile(r"v1\.[0-9]{1,12}\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,64}")


class UsedTokens:
    """The nonces of redeemed tokens until they expire: in memory, and, when a path is set, in a file that
    every process on this machine shares (``cliq-mcp call`` runs, local replicas), under an exclusive lock."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path).expanduser() if path else None
        self._memory: dict[str, float] = {}

    def claim(self, nonce: str, expiry: float, now: float) -> bool:
        """Record ``nonce`` as used; False if it already was."""
        self._memory = {n: e for n, e in self._memory.items() if e >= now}
        if nonce in self._memory:
            return False
        self._memory[nonce] = expiry
        if self.path is None:
            return True
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="ascii") as store:
            fcntl.flock(store, fcntl.LOCK_EX)
            live = {}
            for line in store.read().split():
                used, _, until = line.partition(":")
                if until.isdigit() and int(until) >= now:
                    live[used] = until
            if nonce in live:
                return False
            live[nonce] = str(int(expiry))
            store.seek(0)
            store.truncate()
            store.write("".join(f"{n}:{e}\n" for n, e in live.items()))
        return True


class Tokens:
    """Confirmation tokens: ``v1.<expiry>.<nonce>.<target digest>.<mac>``. The MAC covers the tool, its
    exact arguments, the target digest, the expiry and the nonce, under a key only this server holds.
    Each works once (see ``UsedTokens``)."""

    def __init__(
        self, key: bytes, ttl: float, used: UsedTokens | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._ttl = ttl
        self._clock = clock
        self._used = used or UsedTokens(None)

    @staticmethod
    def digest(question: str) -> str:
        return _b64(hashlib.sha256(question.encode()).digest()[:12])

    def _mac(self, tool: str, arguments: str, target: str, expiry: str, nonce: str) -> str:
        message = "|".join(("v1", tool, arguments, target, expiry, nonce)).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, tool: str, arguments: str, question: str) -> str:
        expiry, nonce, target = (
            str(int(self._clock() + self._ttl)),
            _b64(secrets.token_bytes(12)),
            self.digest(question),
        )
        return ".".join(("v1", expiry, nonce, target, self._mac(tool, arguments, target, expiry, nonce)))

    def redeem(self, token: str, tool: str, arguments: str, question: str) -> None:
        """Accept the token once, for this tool, these arguments and this target; else ``NotConfirmed``."""
        if not TOKEN_SHAPE.fullmatch(token):
            raise NotConfirmed("Not done: that is not a confirmation token from this server. Nothing was changed.",
                               f"Call {tool} without confirmation_token to get a preview and a token.")  # fmt: skip
        _, expiry, nonce, target, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(tool, arguments, target, expiry, nonce)):
            raise NotConfirmed(
                "Not done: the confirmation token does not match this tool and these exact arguments "
                "(or it was altered). Nothing was changed.",
                f"Call {tool} without confirmation_token to get a new preview.",
            )
        now = self._clock()
        if int(expiry) < now:
            raise NotConfirmed(
                "Not done: the confirmation token has expired. Nothing was changed.",
                f"Call {tool} without confirmation_token for a new preview and ask the user again.",
            )
        if not hmac.compare_digest(target, self.digest(question)):
            raise NotConfirmed(
                "Not done: the target changed since the preview the user agreed to. Nothing was changed.",
                f"Now it would be: {question} Call {tool} without confirmation_token to preview it again.",
            )
        if not self._used.claim(nonce, float(expiry), now):
            raise NotConfirmed("Not done: that confirmation token was already used. Nothing was changed.",
                               "A token works once; get a new preview if the user wants it done again.")  # fmt: skip
