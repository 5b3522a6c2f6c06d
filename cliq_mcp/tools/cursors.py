"""The one codec for the cursors a walk hands out (plan_tidy, preview_policy, clear_unread_counts all=true,
list_chats unread=true): a JSON state, signed with the server's key and bound to what the walk is of (the
call's criteria, or a policy's hash). A cursor that was not signed here, or is brought back with other
criteria, is refused: a model cannot forge one that skips chats or counts."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from dataclasses import dataclass
from typing import Any

from cliq_mcp.core.errors import InvalidArguments

MAC_BYTES = 16
MAX_STATE = 64_000  # bytes of state a cursor may hold


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def seal(state: dict[str, Any], key: bytes, bound: str) -> str:
    """``state`` as a cursor only this server (``key``) accepts back, and only for ``bound`` (signed with it, not
    carried: a cursor is text the model reads and repeats, so it is compressed and kept short)."""
    body = zlib.compress(json.dumps(state, separators=(",", ":")).encode(), 9)
    return _b64(_mac(key, bound, body) + body)


def _mac(key: bytes, bound: str, body: bytes) -> bytes:
    return hmac.new(key, bound.encode() + b"\0" + body, hashlib.sha256).digest()[:MAC_BYTES]


def unseal(token: str, key: bytes, bound: str, tool: str, same: str = "the same arguments") -> dict[str, Any]:
    """The state of a cursor ``seal`` made for ``bound``; anything else is ``InvalidArguments``."""
    bad = InvalidArguments(
        f"Invalid next_token: it is not one {tool} gave for {same}. Nothing was sent.",
        f"Pass the next_token of the last {tool} answer with {same}, or leave it out to start over.",
    )
    try:
        signed = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        mac, body = signed[:MAC_BYTES], signed[MAC_BYTES:]
        if not hmac.compare_digest(mac, _mac(key, bound, body)):
            raise bad
        inflate = zlib.decompressobj()
        state = json.loads(inflate.decompress(body, MAX_STATE))  # signed by us, and bounded all the same
        if inflate.unconsumed_tail:
            raise bad
    except (binascii.Error, ValueError, zlib.error):
        raise bad from None
    if not isinstance(state, dict):
        raise bad
    return state


def fingerprint(values: dict[str, Any]) -> str:
    """What a cursor is bound to, from the arguments that define a walk."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


LOOP_DIGEST = 8  # hex characters of a saved list cursor: a false "repeated" is a 1 in 4e9 chance per page


@dataclass
class Loop:
    """Brent's cycle detection over the list cursors Cliq hands a walk, in a constant-size state that a walk's
    own cursor carries across calls: one saved cursor's digest, the power of two at which the next is saved,
    and the pages since the last save. A cycle of list cursors (A, B, A, B...) is caught within about twice its
    length, however the walk is split across calls (a throttle may end every call after a page or two)."""

    saved: str = ""
    power: int = 1
    steps: int = 0

    def repeated(self, token: str) -> bool:
        """Whether Cliq's next cursor ``token`` was seen before by this walk (as far as Brent can tell); if not,
        it is remembered as the walk moves to it."""
        mark = hashlib.sha256(token.encode()).hexdigest()[:LOOP_DIGEST]
        if mark == self.saved:
            return True
        self.steps += 1
        if self.steps >= self.power:
            self.saved, self.power, self.steps = mark, self.power * 2, 0
        return False

    def dump(self) -> list[Any] | None:
        return [self.saved, self.power, self.steps] if self.saved else None

    @classmethod
    def load(cls, raw: Any) -> Loop | None:
        """The state ``dump`` gave, or None if ``raw`` is not one (the cursor is then refused)."""
        if raw is None:
            return cls()
        if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)
                and len(raw[0]) == LOOP_DIGEST and all(type(v) is int for v in raw[1:])
                and raw[1] >= 1 and 0 <= raw[2] < raw[1]):  # fmt: skip
            return None
        return cls(*raw)
