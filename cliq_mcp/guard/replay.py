"""Single use of 2026-07-28 answers. A client answers a question by retrying the call with the sealed
``requestState`` the server gave it; the SDK checks the seal (time, tool, arguments, audience) but keeps
no memory of it, so the same retry sent again would carry the same yes. This middleware, placed outside the
SDK's request-state boundary, notes a digest of the sealed state of each ``tools/call``; the guard claims
that digest in the shared store right before it acts, so a replayed retry finds it taken."""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext

SEALED_STATE: ContextVar[str | None] = ContextVar("cliq_mcp_sealed_state", default=None)


class NoteSealedState(ServerMiddleware[Any]):
    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        sealed = ctx.params.get("requestState") if ctx.method == "tools/call" and ctx.params else None
        if not isinstance(sealed, str):
            return await call_next(ctx)
        noted = SEALED_STATE.set(hashlib.sha256(sealed.encode()).hexdigest())
        try:
            return await call_next(ctx)
        finally:
            SEALED_STATE.reset(noted)
