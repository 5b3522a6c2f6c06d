"""Confirmation tokens, and the memory of the ones already redeemed.

A token is ``v1.<expiry>.<nonce>.<target digest>.<mac>``: the MAC covers the tool, its exact arguments,
the target digest, the expiry and the nonce, under a key only this server holds. Each works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable

from cliq_mcp.core.errors import NotConfirmed
from cliq_mcp.core.state_store import USED, StateStore


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


TOKEN_SHAPE = re.compile(
    r"v2\.[A-Za-z0-9_-]{8}\.[0-9]{1,12}\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,64}"
)
NO_STORE_HINT = "Set CLIQ_STATE_URL to a file this server can write (or redis://… for replicas), then restart it."


class SingleUse:
    """Claims in the shared state store (see ``state_store``): a yes, a token or a sealed answer acts once,
    in this process or any other of the same account. Without a store nothing is claimed, and so nothing
    destructive acts: remembering in this process only would let another process act on the same yes."""

    def __init__(self, store: StateStore | None, account: str, missing: str = "") -> None:
        self.store = store
        self.account = account
        self._missing = missing or "no state directory: HOME and XDG_STATE_HOME are unset"
        # Claimed by this process, until when: not again, even should the store forget it.
        self._used: dict[str, float] = {}

    async def claim(self, kind: str, value: str, until: float) -> bool:
        if self.store is None:
            raise NotConfirmed(
                "Not done: this server has nowhere to remember which confirmations were already used "
                f"({self._missing}), so it acts on none. Nothing was changed.",
                NO_STORE_HINT,
            )
        key = f"{self.account}:{kind}:{value}"
        if key in self._used or not await self.store.claim(key, until):
            return False
        if len(self._used) > 10_000:  # a long-running server: the oldest claims have long expired
            self._used = dict(list(self._used.items())[5_000:])
        self._used[key] = until
        return True

    async def remember(self, kind: str, value: str, ttl_s: float, note: str = "") -> None:
        """Note that a question was put (or a token given) that a later call may answer, with when the store
        last lost what it kept: the claims of a store that lost its data are gone too, so a yes is honoured only
        while the store still has this record and has lost nothing since it was made."""
        if self.store is not None:
            mark = await self.store.lost_mark()
            await self.store.put(f"{self.account}:{kind}:{value}", f"{mark}|{note}", ttl_s, secret=False)

    async def use(self, kind: str, value: str, ttl_s: float) -> str | None:
        """The note of a record ``remember`` made, used up in the same atomic step (of any number of callers, in
        any processes, one gets it; deleting anything afterwards brings it back for no one). None if it was used
        already, never made, or made before the store lost what it kept."""
        if self.store is None:
            return ""
        found = await self.store.take(f"{self.account}:{kind}:{value}", ttl_s)
        mark, _, note = (found or "").partition("|")
        return note if found and found != USED and mark == await self.store.lost_mark() else None

    async def remembered(self, kind: str, value: str) -> str | None:
        """The note of a record ``remember`` made, if it stands and nothing was lost since; else None."""
        if self.store is None:
            return ""
        found = await self.store.get(f"{self.account}:{kind}:{value}")
        mark, _, note = (found[0] if found else "").partition("|")
        return note if found and mark == await self.store.lost_mark() else None


class Tokens:
    """Confirmation tokens: ``v2.<key id>.<expiry>.<nonce>.<target digest>.<mac>``. The MAC covers the tool,
    its exact arguments, the target digest, the expiry and the nonce, under a key only this server holds; the
    key id tells a token from a server with another key apart from an altered one. Each works once."""

    def __init__(self, key: bytes, ttl: float, used: SingleUse, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._kid = _b64(hashlib.sha256(b"cliq-mcp key id|" + key).digest())[:8]
        self._ttl = ttl
        self._clock = clock
        self._used = used

    @staticmethod
    def digest(question: str) -> str:
        return _b64(hashlib.sha256(question.encode()).digest()[:12])

    def _mac(self, tool: str, arguments: str, target: str, expiry: str, nonce: str) -> str:
        message = "|".join(("v2", tool, arguments, target, expiry, nonce)).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    async def issue(self, tool: str, arguments: str, question: str) -> str:
        expiry, nonce, target = (
            str(int(self._clock() + self._ttl)),
            _b64(secrets.token_bytes(12)),
            self.digest(question),
        )
        await self._used.remember("issued", nonce, self._ttl)
        return ".".join(("v2", self._kid, expiry, nonce, target, self._mac(tool, arguments, target, expiry, nonce)))

    async def redeem(self, token: str, tool: str, arguments: str, question: str) -> float:
        """Accept the token once, for this tool, these arguments and this target, and say when it was issued (the
        preview the person agreed to is as old as that); else ``NotConfirmed``."""
        if not TOKEN_SHAPE.fullmatch(token):
            raise NotConfirmed("Not done: that is not a confirmation token from this server. Nothing was changed.",
                               f"Call {tool} without confirmation_token to get a preview and a token.")  # fmt: skip
        _, kid, expiry, nonce, target, mac = token.split(".")
        if not hmac.compare_digest(kid, self._kid):
            raise NotConfirmed(
                "Not done: that confirmation token was made by a server process with another key (each process "
                "has its own unless CLIQ_GUARD_SECRET is shared). Nothing was changed.",
                f"Call {tool} without confirmation_token to get a preview from this server.",
            )
        if not hmac.compare_digest(mac, self._mac(tool, arguments, target, expiry, nonce)):
            raise NotConfirmed(
                "Not done: the confirmation token does not match this tool and these exact arguments "
                "(or it was altered). Nothing was changed.",
                f"Call {tool} without confirmation_token to get a new preview.",
            )
        if int(expiry) < self._clock():
            raise NotConfirmed(
                "Not done: the confirmation token has expired. Nothing was changed.",
                f"Call {tool} without confirmation_token for a new preview and ask the user again.",
            )
        if not hmac.compare_digest(target, self.digest(question)):
            raise NotConfirmed(
                "Not done: the target changed since the preview the user agreed to. Nothing was changed.",
                f"Now it would be: {question} Call {tool} without confirmation_token to preview it again.",
            )
        if await self._used.remembered("issued", nonce) is None:
            raise NotConfirmed(
                "Not done: this server has no record of giving that confirmation token (its state store lost its "
                "records, which include the tokens already used). Nothing was changed.",
                f"Call {tool} without confirmation_token for a new preview and ask the user again.",
            )
        if not await self._used.claim("token", nonce, float(expiry)):
            raise NotConfirmed("Not done: that confirmation token was already used. Nothing was changed.",
                               "A token works once; get a new preview if the user wants it done again.")  # fmt: skip
        if await self._used.use("issued", nonce, self._ttl) is None:  # used at another process meanwhile
            raise NotConfirmed("Not done: that confirmation token was already used. Nothing was changed.",
                               "A token works once; get a new preview if the user wants it done again.")  # fmt: skip
        return int(expiry) - self._ttl
