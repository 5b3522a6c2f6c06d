"""Asking a person through MCP elicitation, in both protocol eras.

The SDK's resolver machinery does the asking: on handshake-era sessions it is a live
``elicitation/create`` request; on 2026-07-28 it is an ``InputRequiredResult`` that the client answers
by retrying the call, which runs the guard again and matches the recorded answer to the exact question.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, Resolve
from mcp.server.mcpserver.resolve import build_resolver_plans, resolve_arguments
from mcp.shared.exceptions import MCPError
from mcp.types import InputRequiredResult
from pydantic import BaseModel, Field, StrictBool

from cliq_mcp.core.errors import NotConfirmed
from cliq_mcp.core.text import clean

logger = logging.getLogger(__name__)
ASK_TIMEOUT_S = 300.0  # a live question nobody answers is a no


class Confirm(BaseModel):
    # Only a JSON true is a yes: "yes", "on", 1 or 1.0 from a client are not a person's clear answer.
    confirm: StrictBool = Field(description="Yes, do it")


def can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    # Handshake-era clients are asked over a back-channel, which stateless HTTP does not have;
    # 2026-07-28 clients are asked inside the result and need none.
    version = ctx.protocol_version
    return (version is not None and version >= "2026-07-28") or ctx.session.can_send_request


async def ask(tool: str, question: str, ctx: Context[Any, Any], wait_s: float) -> InputRequiredResult | None:
    """``None`` when the person said yes; an ``InputRequiredResult`` to return (2026-07-28); else ``NotConfirmed``."""

    async def elicit() -> Elicit[Confirm]:
        return Elicit(question, Confirm)

    wanted = {"answer": (Resolve(elicit), True)}
    try:
        with anyio.fail_after(min(ASK_TIMEOUT_S, wait_s)):  # nothing acts later than CLIQ_CONFIRM_TTL
            resolved = await resolve_arguments(wanted, build_resolver_plans(wanted, set()), {}, ctx)
    except TimeoutError:
        raise NotConfirmed("Not done: nobody answered the confirmation question in time. "
                           "Nothing was changed.", "Try again.", outcome="declined") from None  # fmt: skip
    except MCPError as exc:
        logger.info("Confirmation for %s failed: %s", tool, exc.error.message)
        raise NotConfirmed(
            f"Not done: asking for confirmation failed ({clean(exc.error.message, 120)}). Nothing was changed.",
            "Try again, or do it in Cliq.",
        ) from None
    except Exception as exc:
        logger.info("Confirmation for %s failed: %r", tool, exc)
        raise NotConfirmed("Not done: the confirmation answer could not be read. Nothing was changed.",
                           "Try again.") from None  # fmt: skip
    if isinstance(resolved, InputRequiredResult):
        return resolved
    answer = resolved["answer"]
    if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
        return None
    how = "did not confirm" if isinstance(answer, AcceptedElicitation) else f"chose {answer.action}"
    raise NotConfirmed(f"Not done: the person {how}. Nothing was changed.", "", outcome="declined")
