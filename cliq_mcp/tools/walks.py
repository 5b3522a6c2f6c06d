"""Operations that take more than one request: walking every chat to plan a tidy-up, and applying one
write to several chats. The catalogue rows that use them are in tools/catalogue.py; every request they send
is built by a catalogue row (passed in as ``catalogue``), never by hand."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from math import ceil
from typing import Any

from pydantic_core import to_jsonable_python

from cliq_mcp.cliq import responses as r
from cliq_mcp.cliq.client import CHECK_FIRST
from cliq_mcp.core.errors import (
    ApiError,
    AuthenticationError,
    CliqError,
    InvalidArguments,
    NotFound,
    NothingToDo,
    Paced,
    PermissionDenied,
    ServerError,
    StateUnavailable,
    Throttled,
    TransportError,
)
from cliq_mcp.core.text import TOKEN_LIMIT, clean, moment, parse_time
from cliq_mcp.tools.cursors import Loop, fingerprint, seal, unseal
from cliq_mcp.tools.inputs import (
    ByPlan,
    ClearUnreadCounts,
    GetChat,
    ListChats,
    PlanTidy,
    Request,
    given_arguments,
    parse_arguments,
)
from cliq_mcp.tools.outputs import Bulk, Done, Item
from cliq_mcp.tools.plans import BATCH, Plan
from cliq_mcp.tools.row import Catalogue, ChatStates, Effect, Operation, ReportProgress, Sender
from cliq_mcp.tools.summaries import (
    CURSOR_ENDED,
    CURSOR_LOOPED,
    CURSOR_TOO_LONG,
    NOT_ASKED_YET,
    operation_name,
    unread_cleared,
)

REASON = 160
# A walk returns what it has after this long (pacing waits included), with a cursor: MCP clients give up on
# calls that take much longer, and a partial answer that says so is worth more than none.
TIME_BUDGET_S = 40.0


def _throttle_reason(exc: Throttled, op: Operation) -> str:
    if exc.retry_after is not None:
        return f"throttled; retry in {ceil(exc.retry_after)} s"
    return f"throttled; Cliq may refuse it for up to {op.rate.lock}" if op.rate.lock else "throttled; retry later"


def outcome_of(exc: CliqError) -> tuple[str, str]:
    """What a failed request means for its chat, from the client's error types."""
    reason = clean(exc.message, REASON)
    if isinstance(exc, r.WrongShape):
        return "failed", reason  # Cliq answered with an error where it promises no body
    if isinstance(exc, ServerError | TransportError) and CHECK_FIRST in exc.hint:
        return "may_have_been_applied", reason  # the request left; its answer was an error or never came
    if isinstance(exc, TransportError | StateUnavailable):
        return "not_sent", reason  # Cliq could not be reached at all, or the request never left
    return "failed", reason  # Cliq answered and refused it (ApiError), or our own checks did


def _wait(exc: Throttled) -> int | None:
    return ceil(exc.retry_after) if exc.retry_after is not None else None


def _rate_why(exc: Throttled, op: Operation) -> str:
    wait = _wait(exc)
    if wait is not None:
        return f"rate budget: {op.name} must wait {wait} s"
    return f"rate budget: Cliq throttled {op.name}" + (
        f" and may refuse it for up to {op.rate.lock}" if op.rate.lock else ""
    )


async def chat_states(
    client: Sender, catalogue: Catalogue, chat_ids: list[str], *, fresh: bool = True
) -> tuple[dict[str, r.ChatObject], set[str]]:
    """The open chats among ``chat_ids`` (by id), and the ids of those that are closed: one list request per 100
    ids, and one (``closed=true``) per 100 of the ids those did not return. Others are not among your chats.
    ``fresh=False``: the same chats as read earlier in this call, if they were (no second read): by_plan's read,
    which the question is built from, or the guard's re-check right before acting, which apply_each then acts on
    instead of reading the same chats a third time."""
    known = client.last_read
    if not fresh and known is not None and known[0] == tuple(chat_ids):
        return known[1]
    states = await _chat_states(client, catalogue, chat_ids)
    client.last_read = (tuple(chat_ids), states)
    return states


async def _listed(client: Sender, catalogue: Catalogue, chat_ids: list[str], **filters: Any) -> list[r.ChatObject]:
    lister, chats = catalogue["list_chats"], []
    for at in range(0, len(chat_ids), 100):  # Cliq's list takes up to 100 chat ids
        wire = lister.wire(parse_arguments(ListChats, {"chat_ids": chat_ids[at : at + 100], "limit": 100, **filters}))
        chats += r.read_answer(r.CliqChatList, await client.send(wire, lister.rate), "list_chats").chats
    return chats


async def _chat_states(client: Sender, catalogue: Catalogue, chat_ids: list[str]) -> ChatStates:
    found = {c.chat_id: c for c in await _listed(client, catalogue, list(dict.fromkeys(chat_ids)))}
    rest = [c for c in dict.fromkeys(chat_ids) if c not in found]
    if not rest:
        return found, set()
    return found, {c.chat_id for c in await _listed(client, catalogue, rest, closed=True)} & set(rest)


def skipped(
    chat_ids: list[str], found: dict[str, r.ChatObject], closed: set[str], plan: Plan | None = None, tool: str = ""
) -> dict[str, tuple[str, str]]:
    """Outcome and reason for each chat that cannot be acted on, by id; with the ``plan`` that proposed them for
    ``tool``, also each chat that is no longer as the plan found it: active since (or its last activity not told
    now), or pinned since (or its pinned state not told now) when the plan left pinned chats out of closing."""
    skip = {
        c: ("already_closed", "already closed") if c in closed else ("not_found", "not among your chats")
        for c in chat_ids
        if c not in found
    }
    due = plan.of(tool) if plan is not None else {}
    for chat_id in chat_ids:
        chat = found.get(chat_id)
        if chat is None or chat_id not in due:
            continue
        if chat.last_modified_time is None or parse_time(chat.last_modified_time) != parse_time(due[chat_id]):
            when = moment(chat.last_modified_time)
            skip[chat_id] = ("left_alone", f"active since the plan ({when})" if when else
                             "Cliq did not tell its last activity now")  # fmt: skip
        elif tool == "close_chats" and plan is not None and not plan.include_pinned and chat.pinned is not False:
            skip[chat_id] = ("left_alone", "pinned since the plan" if chat.pinned else
                             "Cliq did not tell whether it is pinned now")  # fmt: skip
    return skip


async def by_plan(op: Operation, request: Request, client: Sender, catalogue: Catalogue) -> Request:
    """``request`` with the chat ids of the plan it names (tools/plans.py), if it names one: the plan's next batch
    (to close: the one a person approved and that was not sent, else the next 50; to mark read: the next 100),
    read now -- the read a question is built from -- without those no longer due (``skipped``, or barred to
    this server), which the answer reports and the plan forgets; if none of a batch is due, the next. Raises
    ``NothingToDo`` when nothing is left."""
    if not isinstance(request, ByPlan) or request.plan is None:
        return request
    handle = request.plan
    plan = await client.plans.recall(handle, op.name)
    due: list[str] = []
    left_alone: list[tuple[str, str, str]] = []
    for chunk in plan.candidates(op.name):
        found, closed = await chat_states(client, catalogue, chunk)
        if op.name == "close_chats" and not plan.include_pinned:  # the list did not say: its own answer may
            for chat_id in [c for c, chat in found.items() if chat.pinned is None]:
                found[chat_id] = merged(found[chat_id], await read_chat(client, catalogue, chat_id, op.name))
        skip = skipped(chunk, found, closed, plan, op.name)
        skip |= {c: ("left_alone", barred) for c in chunk if c not in skip and (barred := client.write_barred(c))}
        left_alone += [(c, *skip[c]) for c in chunk if c in skip]
        due = [c for c in chunk if c not in skip]
        if due:
            client.last_read = (tuple(due), ({c: found[c] for c in due}, set()))
            break
    if not due:
        after = await client.plans.settle(handle, op.name, [c for c, _, _ in left_alone], [])
        items = [Item(chat_id=c, outcome=o, reason=why) for c, o, why in left_alone]  # type: ignore[arg-type]
        alone = f" ({len(left_alone)} left alone now: see the items)" if left_alone else ""
        more = "" if after is None or after.complete else " (its walk did not check every chat: plan_tidy's next_token)"
        raise NothingToDo(f"Nothing to do: plan {handle} has no chats left to {_verb(op)}{alone}{more}.",
                          Bulk(items=items or None, complete=after is not None and after.complete, plan=handle,
                               left_in_plan=0))  # fmt: skip
    resolved = request.model_copy(update={"chat_ids": due})
    assert isinstance(resolved, ByPlan)
    client.left_alone = left_alone
    client.of = len(plan.of(op.name)) - len([c for c, _, _ in left_alone if c in plan.of(op.name)])
    return resolved


async def within_budget(op: Operation, request: Request, client: Sender) -> Request:
    """A destructive request cut to what the account's pacing lets go out now, before anyone is asked: a person
    is asked only about what can be done (issue #22). Nothing can go: refused unasked, with the wait (a plan's
    batch: "not yet", with the call to make). Part of a batch can go: the batch is cut to it, and the rest is
    answered as not sent (by id); a plan's batch instead waits, unasked, until the whole batch can go (a model
    calling again too early would otherwise put the person a question about the few chats that fit). Not paced,
    or a dry run: as it is."""
    if op.effect is not Effect.DESTRUCTIVE or getattr(request, "dry_run", False):
        return request
    room = await client.room(op.rate)
    if room is None:
        return request
    free, wait = room
    ids: list[str] = list(getattr(request, op.each) or []) if op.each else []
    handle = getattr(request, "plan", None)
    why = f"Cliq allows about {op.rate.per_minute} of these a minute, and this minute's share is used up"
    if handle is not None and 0 < free < len(ids):
        whole = await client.room(op.rate, len(ids))  # until the whole batch fits (0: it never will: cut it)
        wait = whole[1] if whole is not None else 0.0
        why = f"Cliq allows about {op.rate.per_minute} of these a minute, and this minute has room for {free} of them"
    if free == 0 or (handle is not None and free < len(ids) and wait > 0):
        seconds = ceil(wait)
        if handle is not None:
            text = (f"Not yet, nothing sent and nobody asked: {why}. Call {op.name} again after {seconds} s with "
                    f"plan={json.dumps(handle)}.")  # fmt: skip
            raise NothingToDo(text, Bulk(complete=False, why=why, retry_after_s=seconds, plan=handle,
                                         continue_with={"plan": handle}))  # fmt: skip
        raise Paced(f"Not sent, and nobody was asked: {why}.", f"Try again in {seconds} s.", retry_after=wait)
    if not op.each or free >= len(ids):
        return request
    cut = request.model_copy(update={op.each: ids[:free]})
    assert isinstance(cut, ByPlan)
    client.later = [] if handle is not None else ids[free:]  # a plan keeps its own rest
    if handle is None:  # the person is told the batch is part of what was asked for
        client.of = len(ids)
    return cut


async def latest_message(op: Operation, request: Request, client: Sender, catalogue: Catalogue) -> Request:
    """``request`` with ``message_id`` filled in with the chat's latest message, where the tool takes one and
    none was given (mark_chat_unread, fork_chat): one ``GET /chats/{id}?include=last_message_info``. Never a
    guess: if Cliq does not tell the latest message's id, nothing is sent and the error says so."""
    if "message_id" not in type(request).model_fields or getattr(request, "message_id", None) is not None:
        return request
    chat_id = str(getattr(request, "chat_id"))  # noqa: B009
    chat = await read_chat(client, catalogue, chat_id, op.name)
    info = chat.last_message_info
    shown = clean(chat_id, 64)
    if info is None:  # asked for its last message, Cliq showed none ("if available", says Zoho: not "none")
        if op.name == "mark_chat_read" and chat.unread_message_count == 0:
            raise NothingToDo(f"Nothing to do: Cliq says chat {shown} has no unread messages.", Done(chat_id=shown))
        raise InvalidArguments(
            f"Nothing was sent: Cliq's answer shows no latest message of chat {shown} (it may have none), which "
            f"{op.name} needs.",
            f'To mark it read without a message id: clear_unread_counts {{"chat_ids": ["{shown}"]}}.'
            if op.name == "mark_chat_read"
            else f"Give message_id to {op.name} if you know it.",
        )
    if not info.message_id:
        raise InvalidArguments(
            f"Nothing was sent: Cliq told chat {shown}'s latest message without its id, which {op.name} needs.",
            f'To mark it read without a message id: clear_unread_counts {{"chat_ids": ["{shown}"]}}.'
            if op.name == "mark_chat_read"
            else f"Give message_id to {op.name} if you know it (a message id looks like 1773813859592_51531973059).",
        )
    return request.model_copy(update={"message_id": info.message_id})


def _verb(op: Operation) -> str:
    return "mark read" if op.name == "clear_unread_counts" else "close"


async def settle(client: Sender, op: Operation, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """After acting on a plan's batch: the plan forgets what was settled (done, left alone, refused for good);
    what was not sent, or Cliq throttled, stays in it (to close: what was not sent is the approved next batch).
    Returns what the answer says of the plan. A store that fails here does not undo the account of what was
    done: the answer says the plan could not be updated."""
    assert isinstance(request, ByPlan) and request.plan is not None
    handle = request.plan
    again = {i["chat_id"] for i in items if i["outcome"] == "not_sent" or str(i.get("reason", "")).startswith(
        "throttled")}  # fmt: skip
    not_sent = [i["chat_id"] for i in items if i["outcome"] == "not_sent"]
    settled = [i["chat_id"] for i in items if i["chat_id"] not in again] + [c for c, _, _ in client.left_alone]
    alone = [{"chat_id": c, "outcome": o, "reason": why} for c, o, why in client.left_alone]
    try:
        plan = await client.plans.settle(handle, op.name, settled, not_sent)
    except CliqError as exc:
        why = f"the plan could not be updated ({clean(exc.message, 120)})"
        return {"plan": handle, "left_in_plan": None, "left_alone": alone, "plan_problem": why}
    left = len(plan.of(op.name)) if plan is not None else None
    return {"plan": handle, "left_in_plan": left, "left_alone": alone, "plan_complete": plan.complete if plan else None}


async def apply_each(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """Send the operation's request once per chat, and say per chat what became of it. Closing reads the
    chats first (chat_states) and sends nothing for those already closed or not found. One failure does not
    stop the others, but a throttle does: every further request would only extend Cliq's lock, so the rest
    are reported as not sent, with the wait."""
    items: list[dict[str, Any]] = []
    wires = op.wires(request)
    chat_ids: list[str] = list(getattr(request, op.each))
    skip: dict[str, tuple[str, str]] = {}
    if op.fixed.get("operation") == "close_chat":
        skip = skipped(chat_ids, *await chat_states(client, catalogue, chat_ids, fresh=False))
    stopped, retry_after = "", None
    for done, (chat_id, wire) in enumerate(zip(chat_ids, wires, strict=True), start=1):
        if chat_id in skip:
            outcome, reason = skip[chat_id]
            items.append({"chat_id": chat_id, "outcome": outcome, "reason": reason})
            continue
        if stopped:
            items.append({"chat_id": chat_id, "outcome": "not_sent", "reason": stopped})
            continue
        try:
            r.no_body(await client.send(wire, op.rate), operation_name(request))
            items.append({"chat_id": chat_id, "outcome": "done"})
        except Throttled as exc:
            reason = _throttle_reason(exc, op)
            # status 0: our own pacing refused it before it was sent; otherwise Cliq refused it.
            items.append({"chat_id": chat_id, "outcome": "not_sent" if isinstance(exc, Paced) else "failed",
                          "reason": reason})  # fmt: skip
            stopped, retry_after = f"after a throttle; {reason.removeprefix('throttled; ')}", _wait(exc)
        except CliqError as exc:
            outcome, reason = outcome_of(exc)
            items.append({"chat_id": chat_id, "outcome": outcome, "reason": reason})
        await progress(done, len(wires), f"{done} of {len(wires)} chats")
    later = client.later
    if later:  # cut by within_budget before anyone was asked: not sent, and not approved either
        room = await client.room(op.rate, len(later))
        retry_after = retry_after or (ceil(room[1]) if room is not None else None)
        items += [{"chat_id": c, "outcome": "not_sent", "reason": NOT_ASKED_YET} for c in later]
    planned = await settle(client, op, request, items) if getattr(request, "plan", None) else {}
    if planned.get("left_in_plan") and retry_after is None:
        # When the plan's next batch fits in what the account may send: then the next call asks about all of it.
        room = await client.room(op.rate, min(BATCH, planned["left_in_plan"]))
        retry_after = ceil(room[1]) if room is not None and room[1] > 0 else None
    return {"items": items, "retry_after_s": retry_after, **planned}


HASH_LEN = 8


def _short_hash(chat_id: str) -> str:
    return hashlib.sha256(chat_id.encode()).hexdigest()[:HASH_LEN]


@dataclass
class Walk:
    """Where a walk of the chat list is: Cliq's cursor of the current page, the chats already done on that
    page (short hashes of their ids: a chat that moved or went meanwhile cannot make the page be done again),
    entries listed before it, entries without a chat id and chats whose type Cliq never told met so far, the
    walk's running counts, and where it is in Cliq's list cursors (``loop``: a cycle of them is caught however
    the walk is split across calls). Sealed into the cursor a tool hands out."""

    token: str | None = None
    seen: list[str] = field(default_factory=list)
    listed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0
    plan: str | None = None  # plan_tidy: the plan the walk adds to (tools/plans.py)
    loop: Loop = field(default_factory=Loop)
    untyped: int = 0  # chats filtered here whose type Cliq did not tell, even alone, by the calls before

    def seal(self, key: bytes, bound: str) -> str:
        state = {"t": self.token, "s": "".join(self.seen), "l": self.listed, "n": self.counts, "u": self.unreadable,
                 "p": self.plan, "c": self.loop.dump(), "y": self.untyped}  # fmt: skip
        return seal({k: v for k, v in state.items() if v or k == "l"}, key, bound)  # short: the model repeats it

    @classmethod
    def unseal(cls, text: str, key: bytes, bound: str, tool: str) -> Walk:
        raw = {"t": None, "s": "", "n": {}, "u": 0, "p": None, "c": None, "y": 0, **unseal(text, key, bound, tool)}
        seen = raw["s"]
        loop = Loop.load(raw["c"])
        if not (
            isinstance(raw["t"], str | None)
            and isinstance(raw.get("l"), int)
            and isinstance(raw["u"], int)
            and isinstance(raw["y"], int)
            and isinstance(seen, str)
            and len(seen) % HASH_LEN == 0
            and isinstance(raw["n"], dict)
            and all(isinstance(v, int) for v in raw["n"].values())
            and isinstance(raw["p"], str | None)
            and loop is not None
        ):
            raise InvalidArguments(f"Invalid next_token: it is not one {tool} gave. Nothing was sent.", "")
        hashes = [seen[i : i + HASH_LEN] for i in range(0, len(seen), HASH_LEN)]
        return cls(raw["t"], hashes, raw["l"], raw["n"], raw["u"], raw["p"], loop, raw["y"])


@dataclass
class WalkEnd:
    """How a walk ended: ``cursor`` to continue it (None: nothing more to walk), and if it is not complete, why."""

    complete: bool
    listed: int  # entries listed by the walk so far (this call and the calls it continues)
    done: int  # chats done by the walk so far
    cursor: Walk | None = None
    why: str | None = None
    retry_after: int | None = None
    unreadable: int = 0  # entries without a chat id, in the whole walk
    untyped: list[str] = field(default_factory=list)  # filtered here, but Cliq told no type even alone (this call)
    untyped_before: int = 0  # such chats met by the calls this one continues (named in their answers)


class Stop(Exception):
    """Raised by a walk's ``each`` before it takes a chat (the answer holds what it can; the chat waits), or by
    its ``page_end`` (the page is done again when the walk continues)."""

    def __init__(self, why: str, retry_after: int | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.retry_after = retry_after


async def read_chat(client: Sender, catalogue: Catalogue, chat_id: str, tool: str) -> r.ChatObject:
    """One chat with what a list entry may lack: its unread count and last message
    (``GET /chats/{id}?include=last_message_info``)."""
    getter = catalogue["get_chat"]
    wire = getter.wire(parse_arguments(GetChat, {"chat_id": chat_id, "include": "last_message_info"}))
    return r.read_answer(r.ChatDetails, await client.send(wire, getter.rate), tool).data


async def muted_chats(
    client: Sender, catalogue: Catalogue, tool: str, chat_ids: list[str] | None = None
) -> set[str] | None:
    """The ids of the chats Cliq's list says are muted (``GET /chats?muted=true``, every page; among
    ``chat_ids`` if given), or None when the list could not say of every chat (an entry without a chat id, a
    repeated cursor). Zoho's chat object has no mute state: only this filter tells it."""
    lister = catalogue["list_chats"]
    found: set[str] = set()
    token: str | None = None
    tokens: set[str] = set()
    while True:
        page = parse_arguments(ListChats, {"limit": 100, "muted": True, "next_token": token, "chat_ids": chat_ids})
        answer = r.read_answer(r.CliqChatList, await client.send(lister.wire(page), lister.rate), tool)
        if answer.unreadable:
            return None
        found |= {c.chat_id for c in answer.chats}
        token = answer.next_token
        if not token:
            return found
        if token in tokens:
            return None
        tokens.add(token)


def merged(listed: r.ChatObject, alone: r.ChatObject) -> r.ChatObject:
    """A chat as its list entry and its own answer tell it together (its own answer first, where it tells)."""
    told = {k: v for k, v in listed.model_dump().items() if v is not None}
    return r.ChatObject.model_validate(told | {k: v for k, v in alone.model_dump().items() if v is not None})


async def walk_list(
    client: Sender,
    catalogue: Catalogue,
    tool: str,
    query: ListChats,
    start: Walk,
    each: Callable[[r.ChatObject], Awaitable[None]],
    *,
    page_end: Callable[[], Awaitable[None]] | None = None,
    deadline: float | None = None,
    progress: ReportProgress | None = None,
) -> WalkEnd:
    """Walk ``GET /chats`` (``query``: its filters, 100 a page) from ``start``: ``each`` is awaited once for every
    chat (once even if Cliq lists it twice), ``page_end`` after each page, and before the walk stops mid-page
    for the chats done so far (if that raises ``Stop``, the page is done again, whole, by the next call). Stops
    with a cursor at a throttle (ours or Cliq's), ``deadline``, ``each`` or ``page_end`` raising ``Stop``, or a
    failure of Cliq's once something was done (the first page failing is the caller's error). A chat of a type
    Cliq's list cannot filter by (``query.filtered_here``) is kept or passed over here; one whose type even its
    own answer leaves out is named (``untyped``). A cursor Cliq repeats ends the walk, not complete: at once
    within a call, and within about twice the cycle's length across calls."""
    loop = Loop(start.loop.saved, start.loop.power, start.loop.steps)
    state = Walk(start.token, list(start.seen), start.listed, dict(start.counts), start.unreadable, None, loop,
                 start.untyped)  # fmt: skip
    lister = catalogue["list_chats"]
    tokens = {state.token} if state.token else set()
    done_ids: set[str] = set()
    untyped: list[str] = []
    page_untyped = 0  # of those, on the page being walked
    here = query.filtered_here
    on_page = 0  # entries on the page being walked (listed, not all done)
    page_start: list[str] = list(state.seen)
    did = False  # anything done by this call

    async def end(why: str, wait: int | None = None, *, flush: bool = True) -> WalkEnd:
        # A page that ends with one step for all its chats (page_end) takes it now for the chats done so far, so
        # that what this call learnt of them (a type read alone) is never read again: a continuation that redid
        # the page could stop at the same place every time. If the step cannot be taken now, the page is done
        # again whole by the next call.
        seen, typeless = state.seen, state.untyped + page_untyped
        if page_end is not None and not flush:
            seen, typeless = page_start, state.untyped
        elif page_end is not None and len(state.seen) > len(page_start):
            try:
                await page_end()
            except Stop as stop:
                seen, typeless = page_start, state.untyped
                wait = max(wait or 0, stop.retry_after or 0) or None
        cursor = Walk(state.token, list(seen), state.listed, dict(state.counts), state.unreadable, None, state.loop,
                      typeless)  # fmt: skip
        done = state.listed - state.unreadable + len(seen)
        return WalkEnd(False, state.listed + on_page, done, cursor, why, wait, state.unreadable, untyped,
                       start.untyped)  # fmt: skip

    while True:
        if deadline is not None and client.now() > deadline:
            return await end("time budget")
        try:
            page = query.model_copy(update={"next_token": state.token, "limit": 100})
            answer = r.read_answer(r.CliqChatList, await client.send(lister.wire(page), lister.rate), tool)
        except Throttled as exc:
            return await end(_rate_why(exc, lister), _wait(exc))
        except CliqError as exc:
            if not did and start.token is None:
                raise
            return await end(f"stopped: {clean(exc.message, REASON)}")
        on_page = len(answer.chats) + len(answer.unreadable)
        repeated_page = bool(answer.chats) and all(c.chat_id in done_ids for c in answer.chats)
        on_this_page = {_short_hash(c.chat_id) for c in answer.chats}
        state.seen = [h for h in state.seen if h in on_this_page]  # chats gone from the page need no memory
        page_start = list(state.seen)
        finished = set(state.seen)
        for chat in answer.chats:
            mark = _short_hash(chat.chat_id)
            if mark in finished or chat.chat_id in done_ids:  # done by the call this one continues, or listed twice
                if mark not in finished:
                    state.seen.append(mark)  # done on this page too, for the call that continues this one
                    finished.add(mark)
                done_ids.add(chat.chat_id)
                continue
            if deadline is not None and client.now() > deadline:
                return await end("time budget")
            try:
                if here is not None and chat.chat_type is None:  # unknown type: only its own answer tells
                    # Listed, but not found alone, not shown alone, or an id that cannot be asked about: its type
                    # stays untold, and the walk goes on (it is named), never stopping at it again and again.
                    with contextlib.suppress(NotFound, PermissionDenied, InvalidArguments):
                        chat = merged(chat, await read_chat(client, catalogue, chat.chat_id, tool))
                if here is not None and chat.chat_type is None:
                    untyped.append(clean(chat.chat_id, 64))
                    page_untyped += 1
                elif here is None or chat.chat_type == here:
                    await each(chat)
            except Stop as stop:
                return await end(stop.why, stop.retry_after)
            except Throttled as exc:
                return await end(_rate_why(exc, catalogue["get_chat"]), _wait(exc))
            except CliqError as exc:
                return await end(f"stopped: {clean(exc.message, REASON)}")
            did = True
            state.seen.append(mark)
            done_ids.add(chat.chat_id)
        if page_end is not None:
            try:
                await page_end()
            except Stop as stop:
                return await end(stop.why, stop.retry_after, flush=False)  # the page is done again
        state.listed += on_page
        state.unreadable += len(answer.unreadable)
        state.untyped += page_untyped
        state.seen, on_page, page_start, page_untyped = [], 0, [], 0
        if progress is not None:
            await progress(state.listed, None, f"{state.listed} chats scanned")
        if not answer.next_token:
            return WalkEnd(True, state.listed, state.listed - state.unreadable, None, None, None, state.unreadable,
                           untyped, start.untyped)  # fmt: skip
        # Following a cursor Cliq gave before would loop: the rest cannot be listed. Within this call every cursor
        # is remembered; across calls (a throttle may end each after a page) the walk's Loop catches it.
        # A page of nothing but chats this call already had, with a new cursor again, is a loop all the same.
        cursor_again = answer.next_token in tokens or state.loop.repeated(answer.next_token)
        if cursor_again or repeated_page:
            why = (
                "Cliq repeated a list cursor, so the rest of the chats could not be listed"
                if cursor_again
                else "Cliq's list gave a page of chats it had already listed, so following it would loop"
            )
            if start.token is not None:  # pages listed again by earlier calls before the repeat was caught
                why += "; some chats may be counted twice"
            return WalkEnd(False, state.listed, state.listed - state.unreadable, None, why, None, state.unreadable,
                           untyped, start.untyped)  # fmt: skip
        tokens.add(answer.next_token)
        state.token = answer.next_token


def _end(end: WalkEnd, key: bytes, bound: str, again: dict[str, Any]) -> dict[str, Any]:
    """A walk's end as a runner answers it: complete or why not, and the arguments to continue with (``again``:
    the call's own arguments, which the continuation repeats)."""
    token = end.cursor.seal(key, bound) if end.cursor is not None else None
    why = end.why
    if not why and end.unreadable:
        why = f"Cliq's list held {end.unreadable} entr{'y' if end.unreadable == 1 else 'ies'} without a chat id"
    if not why and (end.untyped or end.untyped_before):
        named = f": {', '.join(end.untyped[:10])}" if end.untyped else ""
        earlier = f" ({end.untyped_before} named in earlier answers)" if end.untyped_before else ""
        why = (
            f"Cliq did not tell the type of {len(end.untyped) + end.untyped_before} chat(s), not even asked about "
            f"them alone (or would not show them alone){named}{earlier}"
        )
    return {
        "complete": end.complete and not why, "why": why, "retry_after_s": end.retry_after, "next_token": token,
        "continue_with": {**again, "next_token": token} if token else None,
    }  # fmt: skip


def _bound(request: Request, *ignored: str) -> str:
    """What a walk's cursor is tied to: the request's criteria as validated (every field but the cursor and
    ``ignored``; also those never sent to Cliq), so the same must come back with it."""
    kept = {name: getattr(request, name) for name in type(request).model_fields if name not in {"next_token",
            "dry_run", "confirmation_token", *ignored}}  # fmt: skip
    return fingerprint({"tool": operation_name(request), **to_jsonable_python(kept)})


def _lister(**filters: Any) -> ListChats:
    query = parse_arguments(ListChats, {"limit": 100, **{k: v for k, v in filters.items() if v is not None}})
    assert isinstance(query, ListChats)
    return query


async def plan_tidy(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """Walk every chat (largest pages, so fewest requests) and propose actions by the request's criteria. A
    chat whose list entry lacks what a criterion needs (its time of last activity, pinned state, unread count,
    last message, members) is read alone first: no proposal rests on an absent field. Stops at max_chats
    proposals, a rate limit or the time budget with a cursor (next_token) that resumes right after the last
    chat checked: no chat is skipped across calls."""
    assert isinstance(request, PlanTidy)
    now = datetime.now(timezone.utc)
    bound = _bound(request, "max_chats")
    start = Walk.unseal(request.next_token, client.cursor_key, bound, op.name) if request.next_token else Walk()
    if start.plan is not None:
        await client.plans.recall(start.plan, op.name)  # gone: say so before walking, not after
    actions: list[dict[str, Any]] = []
    checked = {"scanned": 0, "pinned": 0, "barred": 0}  # by this call
    unjudged: list[str] = []

    async def each(raw: r.ChatObject) -> None:
        if len(actions) >= request.max_chats:
            raise Stop("proposal limit reached (max_chats)")
        try:
            action, pinned, missing = await _judge(raw, request, now, client, catalogue)
        except InvalidArguments:
            action, pinned, missing = None, False, "an id this server cannot ask Cliq about"
        except ApiError as exc:  # refused alone (403), or not found alone (404) though listed: not judged
            if isinstance(exc, Throttled | AuthenticationError):
                raise
            action, pinned, missing = None, False, f"Cliq would not show it alone: {clean(exc.message, 100)}"
        if action and client.write_barred(raw.chat_id):  # the guard would refuse it: not proposed
            action, checked["barred"] = None, checked["barred"] + 1
        actions.extend([action] if action else [])
        checked["pinned"] += pinned
        checked["scanned"] += 1
        if missing:
            unjudged.append(f"{clean(raw.chat_id, 64)} ({missing})")

    end = await walk_list(client, catalogue, op.name, _lister(chat_type=request.chat_type, name=request.name),
                          start, each, deadline=client.now() + TIME_BUDGET_S, progress=progress)  # fmt: skip
    unjudged += [
        f"{chat_id} (Cliq did not tell its chat type, alone or not, or would not show it alone)"
        for chat_id in end.untyped
    ]
    # Kept by reference (tools/plans.py): close_chats and clear_unread_counts take the handle instead of the ids.
    told = _end(end, client.cursor_key, bound, given_arguments(request, "next_token"))

    def add(plan: Plan) -> None:  # a chat a repeated continuation proposes again is proposed once
        for action in actions:
            plan.of(action["tool"])[action["chat_id"]] = action["last_activity"]
        plan.complete = bool(told["complete"])

    if start.plan is not None:
        kept = await client.plans.change(start.plan, add)
        if kept is None:
            await client.plans.recall(start.plan, op.name)  # expired during the walk: says so
        handle: str | None = start.plan
    else:
        kept = Plan(include_pinned=request.include_pinned)
        add(kept)
        handle = await client.plans.keep(kept) if kept.close or kept.clear or end.cursor is not None else None
    assert kept is not None
    proposed = {"close_chats": len(kept.close), "clear_unread_counts": len(kept.clear)}
    for action in actions:  # each proposal is acted on through the plan
        action["arguments"] = {"plan": handle}
    if end.cursor is not None:
        end.cursor.plan = handle
        told = _end(end, client.cursor_key, bound, given_arguments(request, "next_token"))
    return {
        "scanned": checked["scanned"], "checked": end.done, "listed": end.listed, "actions": actions,
        "pinned_skipped": checked["pinned"], "barred": checked["barred"], "unjudged": unjudged, "plan": handle,
        "proposed": proposed if handle else None, **told,
    }  # fmt: skip


async def _judge(
    raw: r.ChatObject, request: PlanTidy, now: datetime, client: Sender, catalogue: Catalogue
) -> tuple[dict[str, Any] | None, bool, str]:
    """One chat's proposal, if any; whether it is a pinned chat left out of closing; and the field Cliq did not
    tell that a criterion needs, if even the chat's own answer left it out (then nothing is proposed). The chat
    is read alone at most once, and only for a field the judgement needs: closing first, then the unread count
    (which a chat proposed for closing does not need)."""
    chat, alone = raw, False

    async def told(missing: Callable[[r.ChatObject, bool], str]) -> str:
        nonlocal chat, alone
        if missing(chat, alone) and not alone:
            chat, alone = merged(chat, await read_chat(client, catalogue, chat.chat_id, "plan_tidy")), True
        field = missing(chat, alone)
        return f"Cliq did not tell its {field}" if field else ""

    untold = await told(lambda c, alone: _untold_for_closing(c, request, alone))
    if untold:
        return None, False, untold
    last = parse_time(chat.last_modified_time)
    age = now - last if last else None
    closing, empty_untold = "", ""
    if request.empty and chat.chat_type == "group_chat":
        if chat.participant_count is not None and chat.participant_count <= 1:
            closing = "no one else in it"
        elif _shows_none(chat) and chat.unread_message_count is None:  # empty only if nothing is unread: untold
            empty_untold = "Cliq did not tell its unread count (unread_message_count)"
        elif _no_messages(chat):
            closing = f"no message shown, nothing unread, not active since created {moment(chat.created_time)}"
    if not closing and request.inactive_days and age and age > timedelta(days=request.inactive_days):
        closing = f"no activity since {moment(chat.last_modified_time)}"
    if closing and not request.include_pinned:
        untold = await told(lambda c, alone: "" if c.pinned is not None else "pinned state (pinned)")
        if untold:
            return None, False, untold
    unread = chat.unread_message_count
    flags = "" if unread is not None else "unread ?"  # a close proposal says what Cliq did not tell
    pinned_left = bool(closing) and bool(chat.pinned) and not request.include_pinned
    if closing and not pinned_left:
        return _action("close_chats", chat, "; ".join(filter(None, [closing, flags])), unread), False, ""
    if not (request.unread_days and age and age > timedelta(days=request.unread_days)):
        return None, pinned_left, "" if closing else empty_untold
    untold = await told(
        lambda c, alone: "" if c.unread_message_count is not None else "unread count (unread_message_count)"
    )
    if untold:
        return None, pinned_left, untold
    unread = chat.unread_message_count
    if unread:
        reason = f"{unread} unread since {moment(chat.last_modified_time)}"
        return _action("clear_unread_counts", chat, reason, unread), pinned_left, ""
    return None, pinned_left, ""


def _no_messages(chat: r.ChatObject) -> bool:
    """What Cliq told of a chat that has had no messages, and nothing less: ``_shows_none`` and it says nothing
    is unread (a count it left out is not 0). The reason says exactly these, not "no messages": a last message
    Cliq leaves out ("if available") is not proven absent."""
    return _shows_none(chat) and chat.unread_message_count == 0


def _shows_none(chat: r.ChatObject) -> bool:
    """The chat's own answer, asked for its last message, shows none, and its last activity is its creation
    (Zoho: last_modified_time is when it was last active)."""
    created, modified = parse_time(chat.created_time), parse_time(chat.last_modified_time)
    return chat.last_message_info is None and created is not None and modified is not None and modified <= created


def _untold_for_closing(chat: r.ChatObject, request: PlanTidy, alone: bool) -> str:
    """The first field a closing criterion needs that ``chat`` does not tell ("" if none). ``alone``: ``chat``
    includes its own answer, asked for its last message (which Cliq sends "if available")."""
    if chat.last_modified_time is None and (request.inactive_days or request.unread_days):
        return "time of last activity (last_modified_time)"
    if request.empty and chat.chat_type is None:
        return "chat type (chat_type)"
    if request.empty and chat.chat_type == "group_chat":
        if chat.participant_count is None:
            return "number of members (participant_count)"
        if chat.last_message_info is None and not alone:
            return "last message (last_message_info)"
        if chat.last_message_info is None and (chat.created_time is None or chat.last_modified_time is None):
            return "time it was created (created_time)"
    return ""


def _action(tool: str, raw: r.ChatObject, why: str, unread: int | None) -> dict[str, Any]:
    flags = [f"{unread} unread"] if unread and tool == "close_chats" else []  # "unread ?" is in ``why``
    flags += [flag for flag, on in (("pinned", raw.pinned), ("muted", raw.muted)) if on]
    return {
        "tool": tool, "chat_id": clean(raw.chat_id, 64), "name": clean(raw.name or "", 80),
        "chat_type": raw.chat_type, "reason": "; ".join([why, *flags]), "arguments": {},
        "last_activity": raw.last_modified_time, "unread": unread, "pinned": raw.pinned or None,
        "muted": raw.muted or None,
    }  # fmt: skip


async def clear_unread(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """clear_unread_counts: one request for chat_ids; with ``all``, page the list (100 a page) and clear each
    page's chats that may have unread messages in one request: ⌈N/100⌉ list and at most ⌈N/100⌉ clear requests
    for N chats, the least Cliq's API allows. A chat whose list entry has no unread count is sent too (Cliq
    skips chats with nothing unread) and counted as unknown, never as unread. Stops at a throttle or the time
    budget with a cursor to continue."""
    assert isinstance(request, ClearUnreadCounts)
    if request.plan is not None:  # the plan's next 100 chats (by_plan): one request, then the plan forgets them
        chat_ids, wait = list(request.chat_ids or []), None
        try:
            answer = await client.send(op.wire(request), op.rate)
            items = [item.model_dump() for item in unread_cleared(chat_ids, answer, op.name)]
        except Throttled as exc:  # status 0: our pacing kept it back; otherwise Cliq refused it
            reason, wait = _throttle_reason(exc, op), _wait(exc)
            items = [{"chat_id": c, "outcome": "not_sent" if isinstance(exc, Paced) else "failed", "reason": reason}
                     for c in chat_ids]  # fmt: skip
        except CliqError as exc:
            outcome, reason = outcome_of(exc)
            items = [{"chat_id": c, "outcome": outcome, "reason": reason} for c in chat_ids]
        return {"items": items, "retry_after_s": wait, **await settle(client, op, request, items)}
    if not request.all:
        return await client.send(op.wire(request), op.rate)
    bound = _bound(request)
    start = Walk.unseal(request.next_token, client.cursor_key, bound, op.name) if request.next_token else Walk()
    counts = {"had_unread": 0, "unknown": 0, "already_read": 0, "cleared": 0, **start.counts}
    page: list[r.ChatObject] = []
    problems: list[dict[str, Any]] = []

    async def each(chat: r.ChatObject) -> None:
        page.append(chat)

    async def page_end() -> None:
        sent = [c for c in page if c.unread_message_count is None or c.unread_message_count > 0]
        try:
            if sent:
                wire = op.wire(parse_arguments(ClearUnreadCounts, {"chat_ids": [c.chat_id for c in sent]}))
                items = unread_cleared([c.chat_id for c in sent], await client.send(wire, op.rate), op.name)
                counts["cleared"] += sum(i.outcome == "done" for i in items)
                problems.extend(i.model_dump() for i in items if i.outcome != "done")
        except Throttled as exc:
            page.clear()
            raise Stop(_rate_why(exc, op), _wait(exc)) from None  # the cursor lists this page again
        except CliqError as exc:
            outcome, reason = outcome_of(exc)
            problems.extend({"chat_id": c.chat_id, "outcome": outcome, "reason": reason} for c in sent)
        for c in page:
            key = (
                "unknown"
                if c.unread_message_count is None
                else "had_unread"
                if c.unread_message_count
                else "already_read"
            )
            counts[key] += 1
        page.clear()

    query = _lister(chat_type=request.chat_type, name=request.name)
    end = await walk_list(client, catalogue, op.name, query, start, each, page_end=page_end,
                          deadline=client.now() + TIME_BUDGET_S, progress=progress)  # fmt: skip
    if end.cursor is not None:
        end.cursor.counts = counts
    return {"counts": counts, "listed": end.listed, "problems": problems, "filtered_here": query.filtered_here,
            **_end(end, client.cursor_key, bound, given_arguments(request, "next_token"))}  # fmt: skip


async def unread_chats(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """list_chats with unread=true: every chat walked (100 a page), the unread ones kept with their true counts,
    most recent first. A chat whose list entry has no count is read alone (``GET /chats/{id}``): ⌈N/100⌉ list
    requests plus one per chat without a count, the least the API allows. Stops at a throttle or the time
    budget with a cursor; what was found so far is in the answer."""
    assert isinstance(request, ListChats)
    bound = _bound(request, "limit")
    start = Walk.unseal(request.next_token, client.cursor_key, bound, op.name) if request.next_token else Walk()
    counts = {"read_alone": 0, "unknown": 0, "read": 0, "unread": 0, **start.counts}  # the whole walk's
    found: list[r.ChatObject] = []
    unknown: list[r.ChatObject] = []

    async def each(chat: r.ChatObject) -> None:
        if len(found) >= LISTED_UNREAD:
            raise Stop(f"answer size ({LISTED_UNREAD} unread chats)")
        if chat.unread_message_count is None:
            try:
                chat = merged(chat, await read_chat(client, catalogue, chat.chat_id, op.name))
                counts["read_alone"] += 1
            except InvalidArguments:
                pass  # an id this server cannot ask Cliq about: its count stays unknown
            except ApiError as exc:  # refused alone (403), or not found alone (404) though listed: unknown
                if isinstance(exc, Throttled | AuthenticationError):
                    raise
        if chat.unread_message_count is None:
            counts["unknown"] += 1
            unknown.append(chat)
        elif chat.unread_message_count > 0:
            counts["unread"] += 1
            found.append(chat)
        else:
            counts["read"] += 1

    query = request.model_copy(update={"next_token": None, "unread": False})
    end = await walk_list(client, catalogue, op.name, query, start, each,
                          deadline=client.now() + TIME_BUDGET_S, progress=progress)  # fmt: skip
    if end.cursor is not None:
        end.cursor.counts = counts
    return {
        "chats": [c.model_dump() for c in found], "unknown": [c.model_dump() for c in unknown], "counts": counts,
        "listed": end.listed, "filtered_here": query.filtered_here,
        **_end(end, client.cursor_key, bound, given_arguments(request, "next_token")),
    }  # fmt: skip


LISTED_UNREAD = 200  # unread chats in one answer: a longer answer costs the model more than a second call


async def list_chats(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """list_chats: one page as Cliq gives it, or with unread=true the unread view (``unread_chats``). The model
    pages itself: the next_token it is handed is Cliq's cursor sealed with where the listing is in Cliq's cursors
    (``Loop``), so that cursors leading round in a cycle end the listing, not complete, instead of paging for
    ever. A cursor of the same cursor's page is refused for other filters."""
    assert isinstance(request, ListChats)
    if request.unread:
        return await unread_chats(op, request, client, progress, catalogue)
    bound = _bound(request, "limit")  # the filters as validated ("90d" is a time as of the first call)
    loop, asked = Loop(), request
    if request.next_token is not None:
        state = unseal(request.next_token, client.cursor_key, bound, op.name)
        token, loaded = state.get("t"), Loop.load(state.get("c"))
        if not isinstance(token, str) or not token or loaded is None:
            raise InvalidArguments(f"Invalid next_token: it is not one {op.name} gave. Nothing was sent.", "")
        loop, asked = loaded, request.model_copy(update={"next_token": token})
    answer = await client.send(op.wire(asked), op.rate)
    following = answer.get("next_token") if isinstance(answer, dict) else None
    if isinstance(following, str) and following:
        if following == asked.next_token or loop.repeated(following):  # following it would only loop
            return {**answer, "next_token": None, CURSOR_ENDED: CURSOR_LOOPED}
        sealed = seal({"t": following, "c": loop.dump()}, client.cursor_key, bound)
        if len(sealed) > TOKEN_LIMIT:  # cut short, it would be refused: no cursor rather than a broken one
            return {**answer, "next_token": None, CURSOR_ENDED: CURSOR_TOO_LONG}
        return {**answer, "next_token": sealed}
    return answer
