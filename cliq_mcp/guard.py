"""The guard: every write passes through ``Guard.run``; nothing destructive happens without a person's yes.

For every write it applies the chat allow/deny lists, answers dry runs with the exact request and
sends nothing, and writes one audit line per attempt. For destructive operations it then follows
the policy (``CLIQ_GUARD``):

- ``ask`` (default): MCP elicitation where the client supports it; otherwise the first call only
  returns a preview and a confirmation token, and the call repeated with that token acts.
- ``elicit``: elicitation or nothing.
- ``refuse``: destructive tools never act.
- ``unattended``: act without a person, but only on chats in ``CLIQ_UNATTENDED_CHATS``.

Before asking, the guard reads the target (the chat's title and type; for member removal, each
person's name and email and that they are still members) and builds the question from it. Right
before acting it reads the target again: if the question it would ask now differs from the one the
person agreed to, it refuses. Text inside chats can say anything; the guard reads only ids, names and
types from Cliq, and a yes can only come from the person (elicitation) or from a token that only this
server can mint, bound to the tool, its exact arguments and the target as previewed.

Elicitation works in both protocol eras through the SDK's resolver machinery: on handshake-era
sessions it is a live ``elicitation/create`` request; on 2026-07-28 it is an ``InputRequiredResult``
that the client answers by retrying the call, which runs this code again and matches the recorded
answer to the exact question.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import AcceptedElicitation, Context, Elicit, Resolve
from mcp.server.mcpserver.resolve import build_resolver_plans, resolve_arguments
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel, Field

from cliq_mcp.client import CliqClient, Wire
from cliq_mcp.config import GuardConfig
from cliq_mcp.errors import ApiError, CliqError, NotConfirmed
from cliq_mcp.models import Request
from cliq_mcp.operations import BY_NAME, Effect, Operation
from cliq_mcp.summaries import Preview, Written, clean, quoted

logger = logging.getLogger(__name__)
ASK_TIMEOUT_S = 300.0  # a live question nobody answers is a no


class Confirm(BaseModel):
    confirm: bool = Field(description="Yes, do it")


def _can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    # A bare `elicitation: {}` (before modes existed) means form support; url-only does not.
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    # Handshake-era clients are asked over a back-channel, which stateless HTTP does not have;
    # 2026-07-28 clients are asked inside the result and need none.
    version = ctx.protocol_version
    return (version is not None and version >= "2026-07-28") or ctx.session.can_send_request


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


class Audit:
    """One JSON line per write attempt, appended to a file. It never holds a secret: arguments are tool
    arguments (the confirmation token is left out), and errors are our own messages."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path).expanduser() if path else None
        self._warned = False

    def record(self, **fields: Any) -> None:
        if self.path is None:
            return
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        except OSError as exc:
            if not self._warned:  # say it once; a broken audit log must not stop the tools
                logger.error("Cannot write the audit log %s: %s", self.path, exc.strerror)
                self._warned = True


def _items(answer: Any, key: str) -> list[dict[str, Any]]:
    """The objects in ``answer[key]``, whatever shape Cliq's answer has."""
    found = answer.get(key) if isinstance(answer, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _chat_ids(values: dict[str, Any]) -> list[str]:
    """Every chat a request writes to, whatever the tool calls the field."""
    found = [values["chat_id"]] if isinstance(values.get("chat_id"), str) else []
    found += [c for c in values.get("chat_ids") or [] if isinstance(c, str)]
    found += [c["chat_id"] for c in values.get("chats") or [] if isinstance(c, dict) and "chat_id" in c]
    return found


def result(text: str, data: BaseModel, *, error: bool = False) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=None if error else data.model_dump(mode="json", exclude_none=True),
        is_error=error,
    )


Act = Callable[[], Awaitable[CallToolResult]]


def _would_send(op: Operation, request: Request) -> dict[str, Any]:
    wires = op.wires(request)
    return wires[0].as_dict() if len(wires) == 1 else {"requests": [w.as_dict() for w in wires]}


def _line(wire: Wire) -> str:
    query = "?" + "&".join(f"{k}={v}" for k, v in wire.params.items()) if wire.params else ""
    body = json.dumps(wire.json, ensure_ascii=False) if wire.json is not None else ""
    return f"{wire.method} {wire.path}{query} {body}".rstrip()


class Guard:
    def __init__(self, client: CliqClient, config: GuardConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self.config = config
        key = config.secret.get_secret_value().encode() if config.secret else secrets.token_bytes(32)
        self.tokens = Tokens(key, config.token_ttl, UsedTokens(config.used_tokens), clock=clock)
        self.audit = Audit(config.audit_log)

    async def _read(self, op_name: str, **fields: Any) -> Any:
        op = BY_NAME[op_name]
        return await self._client.send(op.wire(op.model(**fields)), op.rate)

    @staticmethod
    def _describe(chat_id: str, data: Any) -> str:
        data = data if isinstance(data, dict) else {}
        kind = clean(data.get("chat_type") or "chat", 32).replace("_", " ")
        return f"the {kind} {quoted(data.get('name'))} ({chat_id})"

    async def question(self, op: Operation, request: Request) -> str:
        """Read the target now and say exactly what will happen to it."""
        values = request.model_dump()
        if op.each:
            # One list request describes them all (Cliq's list takes up to 100 chat ids).
            chat_ids: list[str] = values[op.each]
            listed = await self._read("list_chats", chat_ids=chat_ids, limit=100)
            found = {str(c.get("chat_id")): c for c in _items(listed, "chats")}
            missing = [c for c in chat_ids if c not in found]
            if missing:
                raise NotConfirmed(
                    f"Not done: chat {', '.join(missing)} is not among your open chats. Nothing was changed.",
                    "Leave out chats that are already closed or gone, and call again.",
                )
            described = "; ".join(self._describe(c, found[c]) for c in chat_ids)
            return op.confirm.format(chats=f"{len(chat_ids)} chats: {described}")
        chat_id = str(values["chat_id"])
        answer = await self._read("get_chat", chat_id=chat_id)
        chat = self._describe(chat_id, answer.get("data") if isinstance(answer, dict) else None)
        people = ""
        user_ids: list[str] | None = values.get("user_ids")
        if user_ids is not None:
            listed = await self._read("list_chat_members", chat_id=chat_id)
            members = {str(m.get("user_id")): m for m in _items(listed, "members")}
            missing = [u for u in user_ids if u not in members]
            if missing:
                raise NotConfirmed(
                    f"Not done: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a member of "
                    f"{chat}. Nothing was changed.",
                    "Use list_chat_members to see who is in the chat.",
                )
            named = ", ".join(
                f"{quoted(members[u].get('name'))} <{clean(members[u].get('email_id') or '-', 120)}> ({u})"
                for u in user_ids
            )
            people = f"{len(user_ids)} member{'s' if len(user_ids) != 1 else ''}: {named}"
        return op.confirm.format(chat=chat, people=people)

    async def run(
        self, op: Operation, request: Request, ctx: Context[Any, Any], act: Act
    ) -> CallToolResult | InputRequiredResult:
        """Decide about one write and, if it may go ahead, ``act()`` (which raises ``CliqError`` on failure).
        Every attempt is audited."""
        arguments = request.model_dump(mode="json", exclude={"confirmation_token"})
        note: dict[str, Any] = {"tool": op.name, "arguments": arguments}
        try:
            outcome = await self._decide(op, request, ctx, act, note)
        except NotConfirmed as exc:
            self.audit.record(**note, outcome=exc.outcome, detail=exc.message)
            raise
        except ApiError as exc:
            self.audit.record(**note, outcome="failed", status=exc.status, detail=exc.message)
            raise
        except CliqError as exc:
            self.audit.record(**note, outcome="failed", detail=exc.message)
            raise
        except Exception as exc:  # a bug: still one audit line, then the server's generic error
            self.audit.record(**note, outcome="error", detail=type(exc).__name__)
            raise
        if isinstance(outcome, CallToolResult):  # acted, or a preview; asking (InputRequiredResult) is no outcome
            note.setdefault("outcome", "acted")
            self.audit.record(**note)
        return outcome

    async def _decide(
        self, op: Operation, request: Request, ctx: Context[Any, Any], act: Act, note: dict[str, Any]
    ) -> CallToolResult | InputRequiredResult:
        config = self.config
        chats = _chat_ids(request.model_dump())
        denied = [c for c in chats if c in config.write_deny or (config.write_allow and c not in config.write_allow)]
        if denied:
            raise NotConfirmed(
                f"Not done: writing to chat {', '.join(denied)} is not allowed by this server's configuration. "
                "Nothing was changed.",
                "Ask the user; the allowed chats are set by CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS.",
                outcome="refused",
            )
        if getattr(request, "dry_run", False):
            note["outcome"] = "dry_run"
            lines = [f"Dry run, nothing was sent. {op.name} would send:", *(_line(w) for w in op.wires(request))]
            return result("\n".join(lines), Written(preview=Preview(would_send=_would_send(op, request))))
        if op.effect is not Effect.DESTRUCTIVE:
            return await act()

        if config.policy == "refuse":
            raise NotConfirmed(f"Not done: {op.name} is disabled on this server (CLIQ_GUARD=refuse). "
                               "Nothing was changed.", "Ask the user to do it in Cliq.", outcome="refused")  # fmt: skip
        if config.policy == "unattended":
            outside = [c for c in chats if c not in config.unattended_chats]
            if outside:
                raise NotConfirmed(
                    f"Not done: chat {', '.join(outside)} is not on the unattended allow-list "
                    "(CLIQ_UNATTENDED_CHATS). Nothing was changed.",
                    "",
                    outcome="refused",
                )
            note["confirmed_by"] = "unattended"
            logger.warning("Unattended %s on chat %s (allow-listed)", op.name, ", ".join(chats))
            return await act()

        question = await self.question(op, request)
        note["target"] = question
        token: str | None = getattr(request, "confirmation_token", None)
        canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True)
        if token is not None:
            if config.policy == "elicit":
                raise NotConfirmed("Not done: confirmation tokens are not accepted here (CLIQ_GUARD=elicit). "
                                   "Nothing was changed.", "Use a client that supports elicitation.",
                                   outcome="refused")  # fmt: skip
            # The question was built from a read made just now: this is the re-check before acting.
            self.tokens.redeem(token, op.name, canonical, question)
            note["confirmed_by"] = "token"
            return await act()
        if _can_elicit(ctx):
            pending = await self._ask(op, question, ctx)
            if pending is not None:
                return pending
            # Time has passed since the read the question was built from: read the target again.
            if await self.question(op, request) != question:
                raise NotConfirmed(
                    "Not done: the chat changed while the user was being asked. Nothing was changed.",
                    f"Call {op.name} again to ask about it as it is now.",
                    outcome="refused",
                )
            note["confirmed_by"] = "elicitation"
            return await act()
        if config.policy == "elicit":
            raise NotConfirmed(
                f"Not done: {op.name} needs a person's confirmation, and this client cannot ask for it "
                "(no MCP elicitation support). Nothing was changed.",
                "Ask the user to do it in Cliq, or use a client that supports elicitation.",
                outcome="refused",
            )
        note["outcome"] = "preview"
        issued = self.tokens.issue(op.name, canonical, question)
        ttl = int(config.token_ttl)
        text = (
            f"Not done yet: this needs the user's confirmation.\nIt would: {question}\n"
            f"Show this to the user. Only if they agree, call {op.name} again with the same arguments and "
            f'confirmation_token="{issued}" (valid {ttl} s, once).'
        )
        preview = Preview(would_send=_would_send(op, request), question=question, confirmation_token=issued,
                          expires_in_s=ttl)  # fmt: skip
        return result(text, Written(preview=preview))

    async def _ask(self, op: Operation, question: str, ctx: Context[Any, Any]) -> InputRequiredResult | None:
        """``None`` when the person said yes; an ``InputRequiredResult`` to return (2026-07-28)."""

        async def ask() -> Elicit[Confirm]:
            return Elicit(question, Confirm)

        wanted = {"answer": (Resolve(ask), True)}
        try:
            with anyio.fail_after(ASK_TIMEOUT_S):
                resolved = await resolve_arguments(wanted, build_resolver_plans(wanted, set()), {}, ctx)
        except TimeoutError:
            raise NotConfirmed("Not done: nobody answered the confirmation question in time. "
                               "Nothing was changed.", "Try again.", outcome="declined") from None  # fmt: skip
        except MCPError as exc:
            logger.info("Confirmation for %s failed: %s", op.name, exc.error.message)
            raise NotConfirmed(
                f"Not done: asking for confirmation failed ({clean(exc.error.message, 120)}). Nothing was changed.",
                "Try again, or do it in Cliq.",
            ) from None
        except Exception as exc:
            logger.info("Confirmation for %s failed: %r", op.name, exc)
            raise NotConfirmed("Not done: the confirmation answer could not be read. Nothing was changed.",
                               "Try again.") from None  # fmt: skip
        if isinstance(resolved, InputRequiredResult):
            return resolved
        answer = resolved["answer"]
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return None
        how = "did not confirm" if isinstance(answer, AcceptedElicitation) else f"chose {answer.action}"
        raise NotConfirmed(f"Not done: the person {how}. Nothing was changed.", "", outcome="declined")
