"""Single use of 2026-07-28 answers. A client answers a question by retrying the call with the sealed
``requestState`` the server gave it; the SDK checks the seal (time, tool, arguments, audience) but keeps
no memory of it, so the same retry sent again would carry the same yes. This middleware, placed outside the
SDK's request-state boundary, notes a digest of the sealed state of each ``tools/call`` (the guard claims it in
the shared store right before it acts, so a replayed retry finds it taken), and, when a call ends asking for
input, hands the guard the digest of the sealed state the client was given: the record of that very round
(each seal is unique: it carries its own time), which the answer's call must find."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp_types.methods import is_input_required

# The one crossing of the SDK's boundary (its handler is called without anything of ours): this middleware sets
# these, the tool's handler reads them once (``round_of_this_call``) into the call it passes down (tools/call.py).
_SEALED_STATE: ContextVar[str | None] = ContextVar("cliq_mcp_sealed_state", default=None)
# What the guard wants kept of a round it is putting (when it was asked): filled during the call.
_ROUND: ContextVar[dict[str, Any] | None] = ContextVar("cliq_mcp_round", default=None)
KeepRound = Callable[[str, dict[str, Any]], Awaitable[None]]


def round_of_this_call() -> tuple[str | None, dict[str, Any] | None]:
    """The digest of the sealed request state the current ``tools/call`` carries (None: none, or not through this
    middleware), and the dict the guard fills with what to keep of a round it puts (None: nothing is kept)."""
    return _SEALED_STATE.get(), _ROUND.get()


def _digest(sealed: str) -> str:
    return hashlib.sha256(sealed.encode()).hexdigest()


class NoteSealedState(ServerMiddleware[Any]):
    def __init__(self, keep_round: KeepRound | None = None) -> None:
        self._keep_round = keep_round

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        sealed = ctx.params.get("requestState") if ctx.params else None
        put: dict[str, Any] = {}
        noted = _SEALED_STATE.set(_digest(sealed) if isinstance(sealed, str) else None)
        putting = _ROUND.set(put)
        try:
            result = await call_next(ctx)
        finally:
            _ROUND.reset(putting)
            _SEALED_STATE.reset(noted)
        if put and self._keep_round is not None and is_input_required(result):
            state = result.get("requestState") if isinstance(result, dict) else getattr(result, "request_state", None)
            if isinstance(state, str):
                await self._keep_round(_digest(state), put)
        return result
