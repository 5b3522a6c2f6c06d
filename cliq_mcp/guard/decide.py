"""The guard: every write passes through ``Guard.run``; nothing destructive happens without a person's yes.

For every write it applies the chat allow/deny lists, answers dry runs with the exact request and
sends nothing, and writes one audit line per attempt. For destructive operations it then follows
the policy (``CLIQ_GUARD``):

- ``ask`` (default): MCP form elicitation where the client supports it; otherwise the approval page
  (page_flow.py), sent as a URL elicitation or opened in the person's browser; where neither works,
  nothing is done and the answer names the ways forward. A token the model can read is not a yes.
- ``elicit``: form elicitation or nothing.
- ``trust-host``: without elicitation the first call returns a preview and a confirmation token, and the
  call repeated with that token acts. Only for hosts that ask the person before every tool call: the
  model itself reads the token.
- ``refuse``: destructive tools never act.
- ``unattended``: act without a person, but only on chats in ``CLIQ_UNATTENDED_CHATS``.

A housekeeping run (``cliq-mcp tidy --apply``) builds its guard with the policy file instead
(``policy=``): then every write must be an action the file names, on a chat that, read again right
before the act, the policy still selects for it (housekeeping.recheck); the file's name and hash are
the confirmation in the audit log. Nothing else is written, whatever ``CLIQ_GUARD`` says.

Before asking, the guard reads the target (questions.py) and builds the question from it. Right
before acting it reads the target again: if the question it would ask now differs from the one the
person agreed to, it refuses. Text inside chats can say anything; the guard reads only ids, names and
types from Cliq, and a yes can only come from the person (elicit.py) or from a token that only this
server can mint, bound to the tool, its exact arguments and the target as previewed (tokens.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from math import ceil
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult

from cliq_mcp.cliq.responses import ChatObject
from cliq_mcp.cliq.wire import Wire
from cliq_mcp.core.config import GuardConfig
from cliq_mcp.core.errors import ApiError, CliqError, InvalidArguments, NotConfirmed, NothingToDo, Paced
from cliq_mcp.core.logs import Redactor
from cliq_mcp.core.state_store import StateStore
from cliq_mcp.core.text import clean
from cliq_mcp.guard.audit import Audit
from cliq_mcp.guard.elicit import ask, can_elicit
from cliq_mcp.guard.page_flow import PageFlow, ways_forward
from cliq_mcp.guard.questions import Question, build_question
from cliq_mcp.guard.tokens import SingleUse, Tokens
from cliq_mcp.housekeeping.plan import recheck
from cliq_mcp.housekeeping.policy import TOOLS, Policy
from cliq_mcp.tools.call import Call
from cliq_mcp.tools.catalogue import BY_NAME
from cliq_mcp.tools.inputs import Request
from cliq_mcp.tools.outputs import Bulk, Item, Preview, Written
from cliq_mcp.tools.results import result
from cliq_mcp.tools.row import Effect, Operation
from cliq_mcp.tools.summaries import NOT_ASKED_YET, bulk_answer

logger = logging.getLogger(__name__)
Act = Callable[[], Awaitable[CallToolResult]]


def _command(op: Operation, request: Request) -> str:
    """This very call as a ``cliq-mcp call`` command a person can run at a terminal (which asks them there)."""
    arguments = json.dumps(request.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    return f"cliq-mcp call {op.name} '{arguments}'"


def _would_send(op: Operation, request: Request) -> dict[str, Any]:
    wires = op.wires(request)
    return wires[0].as_dict() if len(wires) == 1 else {"requests": [w.as_dict() for w in wires]}


def _line(wire: Wire) -> str:
    query = "?" + "&".join(f"{k}={v}" for k, v in wire.params.items()) if wire.params else ""
    body = json.dumps(wire.json, ensure_ascii=False) if wire.json is not None else ""
    return f"{wire.method} {wire.path}{query} {body}".rstrip()


class Guard:
    def __init__(
        self,
        config: GuardConfig,
        store: StateStore | None,
        account: str,
        *,
        pages: PageFlow | None = None,
        clock: Any = time.time,
        policy: Policy | None = None,
        redactor: Redactor | None = None,
        sandbox: bool = False,
    ) -> None:
        self.pages = pages
        self.policy = policy
        self.config = config
        self._clock = clock
        key = config.secret.get_secret_value().encode() if config.secret else secrets.token_bytes(32)
        self.single_use = SingleUse(store, account)
        self._withdrawn: dict[str, float] = {}  # kept yeses a person said no to since: where -> until when
        self.tokens = Tokens(key, config.token_ttl, self.single_use, clock)
        self.audit = Audit(config.audit_log, redactor, sandbox=sandbox)  # sandbox acts are marked as such

    def refused_input(self, op: Operation, arguments: Any, exc: CliqError) -> None:
        """Audit a write refused for invalid arguments (nothing was sent): the arguments as given, bounded."""
        try:  # redacted whole, then cut: a secret cut in half would no longer be recognised
            given = clean(self.audit.redact(json.dumps(arguments, ensure_ascii=False, default=str)), 500)
        except (RecursionError, ValueError):  # absurd nesting: say so rather than fail the audit
            given = "(not representable)"
        outcome = "invalid" if isinstance(exc, InvalidArguments) else "failed"
        self.audit.record(tool=op.name, arguments_given=given, outcome=outcome, detail=exc.message)

    async def run(
        self, op: Operation, request: Request, call: Call, ctx: Context[Any, Any] | None, act: Act
    ) -> CallToolResult | InputRequiredResult:
        """Decide about one write and, if it may go ahead, ``act()`` (which raises ``CliqError`` on failure).
        Every attempt is audited. ``call``: the tool call, through which the guard reads too. ``ctx`` is the MCP
        call's; None only for a housekeeping run (no one to ask)."""
        # Every argument given, also those never sent to Cliq (all, type, name, next_token, dry_run).
        hidden = {
            name: getattr(request, name)
            for name, field in type(request).model_fields.items()
            if field.exclude and name != "confirmation_token" and getattr(request, name) not in (None, False)
        }
        arguments = {**request.model_dump(mode="json"), **hidden}
        note: dict[str, Any] = {"tool": op.name, "arguments": arguments, "chats": op.target_chats(request)}
        try:
            outcome = await self._decide(op, request, call, ctx, act, note)
        except NotConfirmed as exc:
            self.audit.record(**note, outcome=exc.outcome, detail=exc.message)
            raise
        except Paced as exc:  # held back here: nothing was sent
            self.audit.record(**note, outcome="paced", detail=exc.message)
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
        except BaseException:  # cancelled (the client gave up): still a line, saying whether anything left
            sent = call.sent
            detail = f"may have been applied: {len(sent)} request(s) had left" if sent else "nothing was sent"
            self.audit.record(**note, outcome="cancelled", detail=detail)
            raise
        if isinstance(outcome, CallToolResult):  # acted, or a preview; asking (InputRequiredResult) is no outcome
            note.setdefault("outcome", "acted")
            if not note["chats"]:  # a walk (clear_unread_counts all=true) names its chats only in its outcome
                items = (outcome.structured_content or {}).get("items")
                if isinstance(items, list):
                    note["chats"] = [i["chat_id"] for i in items if isinstance(i, dict) and "chat_id" in i]
            self.audit.record(**note)
        return outcome

    async def _decide(
        self,
        op: Operation,
        request: Request,
        call: Call,
        ctx: Context[Any, Any] | None,
        act: Act,
        note: dict[str, Any],
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await self._decide_about(op, request, call, ctx, act, note)
        except NothingToDo as exc:  # already as asked (a closed chat): nothing asked, nothing sent
            note["outcome"] = "nothing_to_do"
            later = call.later
            if later and isinstance(exc.output, Bulk):  # the budget cut some off before asking: they are not done
                room = await call.room(op.rate, len(later))
                items = [*(exc.output.items or []), *(Item(chat_id=c, outcome="not_sent", reason=NOT_ASKED_YET)
                                                       for c in later)]  # fmt: skip
                return result(*bulk_answer("Done", items, ceil(room[1]) if room and room[1] > 0 else None))
            return result(exc.text, exc.output)

    async def _decide_about(
        self,
        op: Operation,
        request: Request,
        call: Call,
        ctx: Context[Any, Any] | None,
        plain_act: Act,
        note: dict[str, Any],
    ) -> CallToolResult | InputRequiredResult:
        config = self.config

        async def act() -> CallToolResult:
            """A destructive act, or any act of a housekeeping run: on record (whole, on disk) before it is sent;
            the line saying how it ended carries the same ``act`` id."""
            note["act"] = secrets.token_hex(8)
            self.audit.intent(**note)
            return await plain_act()

        chats = op.target_chats(request)
        denied = [c for c in chats if not config.may_write(c)]
        if denied:
            raise NotConfirmed(
                f"Not done: writing to chat {', '.join(denied)} is not allowed by this server's configuration. "
                "Nothing was changed.",
                "Ask the user; the allowed chats are set by CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS.",
                outcome="refused",
            )
        if getattr(request, "all", False) and (config.write_allow or config.write_deny):
            # A walk over every chat cannot be kept to the allowed ones before it has listed them.
            raise NotConfirmed(
                f"Not done: {op.name} with all=true is not allowed while CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS "
                "limit which chats may be written. Nothing was changed.",
                "Pass the chat ids instead.",
                outcome="refused",
            )
        if getattr(request, "dry_run", False):
            note["outcome"] = "dry_run"
            lines = [f"Dry run, nothing was sent. {op.name} would send:", *(_line(w) for w in op.wires(request))]
            return result("\n".join(lines), Written(preview=Preview(would_send=_would_send(op, request))))
        if self.policy is not None:
            note["policy"] = self.policy.label  # on every line of a housekeeping run, skipped and failed too
            title = await self._policy_allows(op, chats, call)
            note["chat_titles"] = {chats[0]: title} if title else None
            note["confirmed_by"] = self.policy.label
            return await act()
        if op.effect is not Effect.DESTRUCTIVE:
            return await plain_act()
        if not self.audit.writable():  # said before anyone is asked: a yes that cannot act is a yes wasted
            self.audit.intent(**note)  # raises NotConfirmed, naming the log
        if ctx is None:  # no MCP call, no policy file: nobody said yes
            raise NotConfirmed(f"Not done: {op.name} needs a person's yes. Nothing was changed.", "")

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

        token: str | None = getattr(request, "confirmation_token", None)
        # A call that answers a question (a token, a 2026-07-28 retry) is judged by that question, so that a
        # replay is "already used"; a fresh call on a closed chat is told so without asking anyone.
        answering = token is not None or ctx.input_responses is not None
        of = call.of  # a plan's batch, or a batch cut by the budget: how many in all
        whose = "its plan holds" if getattr(request, "plan", None) else "asked for"
        canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True)
        # A 2026-07-28 removal's answer: the chat as read for its question stands (as it does for a live answer);
        # only the people, what the yes covers, are read again.
        first = await self._first_read(op, canonical) if ctx.input_responses is not None else None
        values = request.model_dump()
        try:  # a new question may be built from what a call just before read (the act is never)
            asked = await build_question(call, op, values, answering=answering, of=of, whose=whose,
                                         before=first, recent=not answering)  # fmt: skip
        except (NotConfirmed, NothingToDo):
            if answering:
                raise
            # A refusal is never told from a recent read: read again, and refuse only if that says so too.
            asked = await build_question(call, op, values, answering=answering, of=of, whose=whose, before=first)
        call.names.update(asked.names)  # the summary names the people it read, with no further request
        question = asked.full
        note["target"] = question
        note["chat_titles"] = asked.titles
        if token is not None:
            if config.policy != "trust-host":
                raise NotConfirmed(
                    f"Not done: confirmation tokens are not accepted here (CLIQ_GUARD={config.policy}): a token the "
                    "assistant can read is not a person's yes. Nothing was changed.",
                    f"Call {op.name} without confirmation_token; the person is asked directly.",
                    outcome="refused",
                )
            # The question was built from a read made just now: this is the re-check before acting.
            issued_at = await self.tokens.redeem(token, op.name, canonical, question)
            note["confirmed_by"] = "token"
            return await self._acting(op, asked, act, min(issued_at, self._clock()))  # as old as the preview
        kept_until = await self._kept_yes(op, asked, note) if op.each else None
        if kept_until is not None:  # the person said yes to these before: not asked again
            return await self._acting(op, asked, act, kept_until - config.token_ttl)
        asked_at = self._clock()
        try:
            if can_elicit(ctx):
                how, pending = "elicitation", await ask(op.name, asked.full, ctx, config.token_ttl)
            elif config.policy == "ask" and self.pages is not None and self.pages.possible(ctx):
                covered = list(asked.per_chat) or op.target_chats(request)  # a Deny withdraws their kept yeses
                on_page = await self.pages.ask(op.name, asked, ctx, _command(op, request),
                                               [self._kept(op, chat_id) for chat_id in covered])  # fmt: skip
                how, pending = "approval page", on_page if isinstance(on_page, InputRequiredResult) else None
                if not isinstance(on_page, InputRequiredResult):
                    asked_at -= on_page  # a page a call before showed: the question is as old as the page
            elif config.policy != "trust-host":
                raise NotConfirmed(
                    f"Not done: {op.name} needs a person's yes, and nobody can be asked here: this client cannot "
                    "show a confirmation (no MCP elicitation) and no approval page can be shown. Nothing was changed.",
                    ways_forward(_command(op, request)),
                    outcome="refused",
                )
            else:
                return await self._preview(op, request, question, canonical, note)
        except NotConfirmed as exc:
            if exc.outcome == "declined":  # the person's latest word on these chats is no: no earlier yes stands
                await self._withdraw_kept(op, list(asked.per_chat) or op.target_chats(request))
            raise
        if pending is not None:
            put = call.round  # a 2026-07-28 round: its record is kept once the SDK has sealed it (replay.py)
            if put is not None:
                put["asked_at"] = asked_at
            await self._keep_first_read(op, canonical, asked)
            return pending
        if ctx.input_responses is not None:  # the answer to a question put in an earlier call: when was that?
            asked_at = await self._asked_at(op.name, call.sealed_state)
        if self._clock() > asked_at + config.token_ttl:
            # An answer that came back late: a yes is good for CLIQ_CONFIRM_TTL after the question, no longer.
            raise NotConfirmed(
                "Not done: the answer came after the confirmation had expired. Nothing was changed.",
                f"Call {op.name} again to ask again.",
                outcome="declined",
            )
        # Time has passed since the read the question was built from, so read the target again; except for a
        # 2026-07-28 form answer, which arrives with the retry whose first step was that very read, sealed to the
        # question it answers (an approval page may have been waited on in this call: read again).
        again = asked
        if ctx.input_responses is None or how != "elicitation":
            again = await build_question(
                call, op, request.model_dump(), answering=answering, before=asked, of=of, whose=whose
            )
        if again.full != question:
            raise NotConfirmed(
                "Not done: the chat changed while the user was being asked. Nothing was changed.",
                f"Call {op.name} again to ask about it as it is now.",
                outcome="refused",
            )
        await self._claim_answer(ctx, call.sealed_state)
        note["confirmed_by"] = how
        return await self._acting(op, asked, act, asked_at)

    async def _acting(self, op: Operation, asked: Question, act: Act, asked_at: float) -> CallToolResult:
        """Act on a yes given at ``asked_at``; a batch keeps it for what did not go, until CLIQ_CONFIRM_TTL after
        that question and no longer (also when nothing of it went: the answer is then an error)."""
        try:
            done = await act()
        except CliqError as exc:
            if op.each and exc.data:
                await self._keep_yes(op, asked, exc.data, asked_at + self.config.token_ttl - self._clock())
            raise
        if op.each:
            await self._keep_yes(op, asked, done.structured_content or {},
                                 asked_at + self.config.token_ttl - self._clock())  # fmt: skip
        return done

    def _read_key(self, op: Operation, canonical: str) -> str:
        digest = hashlib.sha256(f"{op.name}|{canonical}".encode()).hexdigest()[:32]
        return f"{self.single_use.account}:read:{digest}"

    async def _keep_first_read(self, op: Operation, canonical: str, asked: Question) -> None:
        """A removal's question: the chat as read for it, for the call that brings the answer (no second get)."""
        store = self.single_use.store
        if store is not None and asked.chat is not None and "user_ids" in op.model.model_fields:
            with contextlib.suppress(CliqError):  # not kept: the answer's call reads the chat again
                await store.put(self._read_key(op, canonical), asked.chat.model_dump_json(exclude_none=True),
                                self.config.token_ttl, secret=False)  # fmt: skip

    async def _first_read(self, op: Operation, canonical: str) -> Question | None:
        store = self.single_use.store
        if store is None or "user_ids" not in op.model.model_fields:
            return None
        with contextlib.suppress(CliqError, ValueError):
            found = await store.get(self._read_key(op, canonical))
            if found is not None:
                return Question("", chat=ChatObject.model_validate_json(found[0]))
        return None

    async def keep_round(self, sealed_digest: str, put: dict[str, Any]) -> None:
        """The record of a 2026-07-28 round just put (``replay.NoteSealedState`` calls this with the digest of the
        sealed state the client was given): its answer, in a later call and maybe on another replica, is
        honoured only while this record stands and the store lost nothing since (a store that lost data lost
        the used answers' claims too; asking the same question again is another round, another seal)."""
        if "asked_at" in put:
            await self.single_use.remember("asked", sealed_digest[:32], self.config.token_ttl, repr(put["asked_at"]))

    async def _asked_at(self, tool: str, sealed: str | None) -> float:
        """When the round a 2026-07-28 answer is for was put; ``NotConfirmed`` if that is not on record."""
        now = float(self._clock())
        if self.single_use.store is None:
            return now
        note = await self.single_use.remembered("asked", sealed[:32]) if sealed is not None else None
        try:
            asked = float(note) if note else None
        except ValueError:
            asked = None
        if asked is None:
            raise NotConfirmed(
                "Not done: this server has no record of asking that question (its state store lost its records, "
                "which include the answers already used). Nothing was changed.",
                f"Call {tool} again to ask the person again.",
            )
        return min(asked, now)

    async def _withdraw_kept(self, op: Operation, chats: list[str]) -> None:
        """Each chat a person just said no to acting on: a yes kept for the same act on it is used up, so nothing
        acts on it unasked. Remembered in this process too, should the store not take it."""
        now = self._clock()
        until = now + self.config.token_ttl
        self._withdrawn = {k: u for k, u in self._withdrawn.items() if u > now}  # those past their time are gone
        for chat_id in chats:
            self._withdrawn[self._kept(op, chat_id)] = until
        store = self.single_use.store
        if store is None:
            return
        for chat_id in chats:
            with contextlib.suppress(CliqError):  # this process refuses it anyway (``_withdrawn``)
                await store.take(self._kept(op, chat_id), self.config.token_ttl)  # used up: it acts for no one

    async def _policy_allows(self, op: Operation, chats: list[str], call: Call) -> str | None:
        """A housekeeping run: only acts the policy file names, on chats it still selects, read right now (else
        NotConfirmed). Returns the chat's name as read."""
        assert self.policy is not None
        action = next((a for a, tool in TOOLS.items() if tool == op.name), None)
        if action is None or action not in self.policy.rules:
            raise NotConfirmed(
                f"Not done: {op.name} is not an action the {self.policy.label} names. Nothing was changed.",
                "A housekeeping run only does what its policy file says.",
                outcome="refused",
            )
        if len(chats) != 1:
            raise NotConfirmed(f"Not done: a housekeeping act is on exactly one chat, not {len(chats)}.", "")
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        why_not, title = await recheck(self.policy, action, chats[0], call, BY_NAME, now)
        if why_not:
            raise NotConfirmed(
                f"Not done: chat {chats[0]} changed since the plan and the policy no longer selects it for "
                f"{action} ({why_not}). Nothing was changed.",
                "",
                outcome="skipped",
            )
        return title

    async def _preview(
        self, op: Operation, request: Request, question: str, canonical: str, note: dict[str, Any]
    ) -> CallToolResult:
        """CLIQ_GUARD=trust-host without elicitation: a preview and a token the host's own prompt guards."""
        config = self.config
        note["outcome"] = "preview"
        issued = await self.tokens.issue(op.name, canonical, question)
        ttl = int(config.token_ttl)
        text = (
            f"Not done yet: this needs the user's confirmation.\nIt would: {question}\n"
            f"Show this to the user. Only if they agree, call {op.name} again with the same arguments and "
            f'confirmation_token="{issued}" (valid {ttl} s, once).'
        )
        preview = Preview(would_send=_would_send(op, request), question=question, confirmation_token=issued,
                          expires_in_s=ttl)  # fmt: skip
        return result(text, Written(preview=preview))

    def _kept(self, op: Operation, chat_id: str) -> str:
        """Where a kept yes for this act on this chat is (close_chat and close_chats are the same act)."""
        return f"{self.single_use.account}:yes:{op.fixed.get('operation') or op.name}:{chat_id}"

    async def _keep_yes(self, op: Operation, asked: Question, done: dict[str, Any], ttl_s: float) -> None:
        """A batch cut short (our pacing, Cliq's throttle): the person's yes is kept for exactly the chats not
        sent, each as they were shown, for ``ttl_s`` (until CLIQ_CONFIRM_TTL after the question), so that the
        call for the rest does not ask again about chats already approved."""
        store = self.single_use.store
        items = done.get("items") or []
        rest = [i["chat_id"] for i in items if isinstance(i, dict) and i.get("outcome") == "not_sent"]
        if store is None or not rest or ttl_s <= 0:
            return
        with contextlib.suppress(CliqError):  # not kept: the person is simply asked again
            mark = await store.lost_mark()  # a store that loses what it kept since voids these (as any record)
            for chat_id in rest:
                if chat_id in asked.per_chat:
                    line = asked.per_chat[chat_id]
                    until = self._clock() + ttl_s  # in the value, sealed: a longer life in Redis gives it none
                    await store.put(self._kept(op, chat_id), f"{mark}|{until!r}|{secrets.token_hex(8)}|{line}", ttl_s)

    async def _kept_yes(self, op: Operation, asked: Question, note: dict[str, Any]) -> float | None:
        """If every chat of this batch was approved before (kept by ``_keep_yes``) as it is shown now: each of
        those yeses used up, once (two calls cannot both use it), and until when the earliest stood (sealed in it:
        a continuation keeps exactly that, never a moment more). None: the person is asked (some chat was not
        approved, or shown otherwise, or its yes was used meanwhile)."""
        store = self.single_use.store
        if store is None or not asked.per_chat:
            return None
        kept: dict[str, str] = {}
        mark, now = await store.lost_mark(), float(self._clock())
        ends = now + self.config.token_ttl
        for chat_id, line in asked.per_chat.items():
            if self._withdrawn.get(self._kept(op, chat_id), 0) > now:
                return None  # the person said no to it since (and the store may not have taken that)
            found = await store.get(self._kept(op, chat_id))
            value = found[0] if found else ""
            kept_mark, until, shown = _kept_parts(value)
            if not found or shown != line or kept_mark != mark or until <= now:
                return None
            kept[chat_id], ends = value, min(ends, until)
        for chat_id, value in kept.items():  # each used up in one step: only the call that gets it acts on it
            if await store.take(self._kept(op, chat_id), self.config.token_ttl) != value:
                return None  # used by another call meanwhile: this one asks the person
        note["confirmed_by"] = "earlier yes"
        return ends

    async def _claim_answer(self, ctx: Context[Any, Any], sealed: str | None) -> None:
        """A 2026-07-28 yes arrives in a retry that could be sent again: claim it once, in the shared store.
        (A handshake-era yes is a live answer to this very call and cannot be replayed.)"""
        if ctx.input_responses is None:
            return
        # sealed None: answers without the sealed question are not taken
        if sealed is None or not await self.single_use.claim("answer", sealed, self._clock() + self.config.token_ttl):
            raise NotConfirmed(
                "Not done: that answer was already used (a confirmation acts once). Nothing was changed.",
                "Call the tool again to ask the person again.",
            )
        if await self.single_use.use("asked", sealed[:32], self.config.token_ttl) is None:  # used elsewhere meanwhile
            raise NotConfirmed(
                "Not done: that answer was already used (a confirmation acts once). Nothing was changed.",
                "Call the tool again to ask the person again.",
            )


def _kept_parts(value: str) -> tuple[str, float, str]:
    """A kept yes, ``mark|until|nonce|line``: its store mark, until when it stands (sealed in the value, by the
    guard's clock), and the chat's line as the person saw it. Anything else stands for nothing."""
    mark, _, rest = value.partition("|")
    until, _, rest = rest.partition("|")
    _, _, line = rest.partition("|")
    try:
        return mark, float(until), line
    except ValueError:
        return mark, 0.0, line
