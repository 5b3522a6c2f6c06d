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
