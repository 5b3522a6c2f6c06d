"""The guard: no destructive operation without a person's yes.

Every destructive call passes ``Guard.check`` right before it acts. The guard reads the target
(the chat's title; for member removal, who the people are and that they are still members), asks
the person through MCP elicitation with a question naming the chat and the exact effect, and lets
the call through only on an explicit accept with ``confirm: true``. Decline, cancel, an error, or a
client that cannot ask all mean nothing is done. Text inside chats can say anything: the guard
only reads ids and names from Cliq and never follows what a chat says.

Elicitation works in both protocol eras through the SDK's resolver machinery: on handshake-era
sessions it is a live ``elicitation/create`` request; on 2026-07-28 it is an ``InputRequiredResult``
that the client answers by retrying the call (the tool then runs again, re-reads the target and
rebuilds the same question, and the recorded answer is matched to that exact question).
"""

from __future__ import annotations

import logging
from typing import Any

from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, Resolve
from mcp.server.mcpserver.resolve import build_resolver_plans, resolve_arguments
from mcp.shared.exceptions import MCPError
from mcp.types import InputRequiredResult
from pydantic import BaseModel, Field

from cliq_mcp.client import CliqClient
from cliq_mcp.errors import NotConfirmed
from cliq_mcp.models import Request
from cliq_mcp.operations import BY_NAME, Operation
from cliq_mcp.summaries import clean, quoted

logger = logging.getLogger(__name__)


class Confirm(BaseModel):
    confirm: bool = Field(description="Yes, do it")


def _can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


class Guard:
    def __init__(self, client: CliqClient) -> None:
        self._client = client

    async def _read(self, op_name: str, **fields: Any) -> Any:
        op = BY_NAME[op_name]
        return await self._client.send(op.wire(op.model(**fields)), op.rate)

    async def question(self, op: Operation, request: Request) -> str:
        """Read the target now and say exactly what will happen to it."""
        chat_id = request.chat_id
        answer = await self._read("get_chat", chat_id=chat_id)
        data = answer.get("data", {}) if isinstance(answer, dict) else {}
        kind = clean(data.get("chat_type", "chat"), 32).replace("_", " ")
        chat = f"the {kind} {quoted(data.get('name'))} ({chat_id})"
        people = ""
        user_ids: list[str] | None = getattr(request, "user_ids", None)
        if user_ids is not None:
            listed = await self._read("list_chat_members", chat_id=chat_id)
            members = {str(m.get("user_id")): m for m in (listed or {}).get("members", []) if isinstance(m, dict)}
            missing = [u for u in user_ids if u not in members]
            if missing:
                raise NotConfirmed(
                    f"Not done: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a member of "
                    f"{chat}. Nothing was changed.",
                    "Use list_chat_members to see who is in the chat.",
                )
            people = ", ".join(
                f"{quoted(members[u].get('name'))} <{clean(members[u].get('email_id') or '-', 120)}> ({u})"
                for u in user_ids
            )
            people = f"{len(user_ids)} member{'s' if len(user_ids) != 1 else ''}: {people}"
        return op.confirm.format(chat=chat, people=people)

    async def check(self, op: Operation, request: Request, ctx: Context[Any, Any]) -> InputRequiredResult | None:
        """``None``: a person said yes, go ahead. An ``InputRequiredResult``: return it to ask (2026-07-28).
        Raises ``NotConfirmed`` in every other case."""
        if not _can_elicit(ctx):
            raise NotConfirmed(
                f"Not done: {op.name} needs a person's confirmation, and this client cannot ask for it "
                "(no MCP elicitation support). Nothing was changed.",
                "Ask the user to do it in Cliq, or use a client that supports elicitation.",
            )
        question = await self.question(op, request)

        async def ask() -> Elicit[Confirm]:
            return Elicit(question, Confirm)

        plans = build_resolver_plans({"answer": (Resolve(ask), True)}, set())
        try:
            resolved = await resolve_arguments({"answer": (Resolve(ask), True)}, plans, {}, ctx)
        except MCPError as exc:
            logger.info("Confirmation for %s failed: %s", op.name, exc.error.message)
            raise NotConfirmed(
                f"Not done: asking for confirmation failed ({clean(exc.error.message, 120)}). Nothing was changed.",
                "Try again, or do it in Cliq.",
            ) from None
        except Exception as exc:
            logger.info("Confirmation for %s failed: %r", op.name, exc)
            raise NotConfirmed(
                "Not done: the confirmation answer could not be read. Nothing was changed.", "Try again."
            ) from None
        if isinstance(resolved, InputRequiredResult):
            return resolved
        answer = resolved["answer"]
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return None
        how = "did not confirm" if isinstance(answer, AcceptedElicitation) else f"chose {answer.action}"
        raise NotConfirmed(f"Not done: the person {how}. Nothing was changed.", "")
