"""Operations that take more than one request: walking every chat to plan a tidy-up, and applying one
write to several chats. The catalogue rows that use them are in operations.py; every request they send
is built by a catalogue row (passed in as ``catalogue``), never by hand."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from math import ceil
from typing import Any

from cliq_mcp import responses as r
from cliq_mcp.client import CHECK_FIRST
from cliq_mcp.errors import CliqError, InvalidArguments, NotFound, ServerError, Throttled, TransportError
from cliq_mcp.models import ClearUnreadCounts, GetChat, ListChats, PlanTidy, Request, parse
from cliq_mcp.operation import Catalogue, Operation, Progress, Sender
from cliq_mcp.summaries import clean, moment, operation_name, parse_time, unread_cleared

MAX_PAGES = 50  # 5,000 chats a call; Cliq's own limit (30 pages a minute) comes first anyway
REASON = 160
# A walk returns what it has after this long (pacing waits included), with a cursor: MCP clients give up on
# calls that take much longer, and a partial answer that says so is worth more than none.
TIME_BUDGET_S = 40.0
ChatStates = tuple[dict[str, r.ChatObject], set[str]]
# The last chat_states read in this call (each tool call runs in its own context): the guard's re-check right
# before acting, which apply_each then acts on instead of reading the same chats a third time.
_LAST_READ: ContextVar[tuple[tuple[str, ...], ChatStates] | None] = ContextVar("last_chat_states", default=None)


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
    if isinstance(exc, TransportError):
        return "not_sent", reason  # Cliq could not be reached at all
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
    client: Sender, catalogue: Catalogue, chat_ids: list[str]
) -> tuple[dict[str, r.ChatObject], set[str]]:
    """The open chats among ``chat_ids`` (by id), and the ids of those that are closed: one list request, and
    a second (``closed=true``) only for ids the first did not return. Others are not among your chats."""
    states = await _chat_states(client, catalogue, chat_ids)
    _LAST_READ.set((tuple(chat_ids), states))
    return states


async def _chat_states(client: Sender, catalogue: Catalogue, chat_ids: list[str]) -> ChatStates:
    lister = catalogue["list_chats"]
    wire = lister.wire(parse(ListChats, {"chat_ids": chat_ids, "limit": 100}))
    found = {c.chat_id: c for c in r.parse(r.ChatList, await client.send(wire, lister.rate), "list_chats").chats}
    rest = [c for c in dict.fromkeys(chat_ids) if c not in found]
    if not rest:
        return found, set()
    wire = lister.wire(parse(ListChats, {"chat_ids": rest, "closed": True, "limit": 100}))
    closed = r.parse(r.ChatList, await client.send(wire, lister.rate), "list_chats").chats
    return found, {c.chat_id for c in closed} & set(rest)


def skipped(chat_ids: list[str], found: dict[str, r.ChatObject], closed: set[str]) -> dict[str, tuple[str, str]]:
    """Outcome and reason for each chat that cannot be closed, by id."""
    return {
        c: ("already_closed", "already closed") if c in closed else ("not_found", "not among your chats")
        for c in chat_ids
        if c not in found
    }


async def apply_each(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Send the operation's request once per chat, and say per chat what became of it. Closing reads the
    chats first (chat_states) and sends nothing for those already closed or not found. One failure does not
    stop the others, but a throttle does: every further request would only extend Cliq's lock, so the rest
    are reported as not sent, with the wait."""
    items: list[dict[str, Any]] = []
    wires = op.wires(request)
    chat_ids: list[str] = list(getattr(request, op.each))
    skip: dict[str, tuple[str, str]] = {}
    if op.fixed.get("operation") == "close_chat":
        known = _LAST_READ.get()
        states = known[1] if known and known[0] == tuple(chat_ids) else await chat_states(client, catalogue, chat_ids)
        skip = skipped(chat_ids, *states)
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
            items.append({"chat_id": chat_id, "outcome": "failed" if exc.status else "not_sent", "reason": reason})
            stopped, retry_after = f"after a throttle; {reason.removeprefix('throttled; ')}", _wait(exc)
        except CliqError as exc:
            outcome, reason = outcome_of(exc)
            items.append({"chat_id": chat_id, "outcome": outcome, "reason": reason})
        await progress(done, len(wires), f"{done} of {len(wires)} chats")
    return {"items": items, "retry_after_s": retry_after}


def _fingerprint(request: Request, *ignored: str) -> str:
    """Ties a walk's cursor to its arguments: the same criteria must come back with it."""
    kept = request.model_dump(mode="json", exclude={"next_token", "dry_run", *ignored})
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def _encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str, fingerprint: str, tool: str) -> dict[str, Any]:
    bad = InvalidArguments(
        f"Invalid next_token: it is not one {tool} gave for these arguments. Nothing was sent.",
        f"Pass the next_token of the last {tool} answer with the same arguments, or leave it out to start over.",
    )
    try:
        cursor = json.loads(base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError):
        raise bad from None
    if (
        not isinstance(cursor, dict)
        or cursor.get("f") != fingerprint
        or not isinstance(cursor.get("l"), int)
        or not isinstance(cursor.get("t"), str | None)
        or not isinstance(cursor.get("a"), str | None)
    ):
        raise bad
    return cursor


async def _list_page(
    client: Sender, catalogue: Catalogue, query: dict[str, Any], token: str | None, tool: str
) -> r.ChatList:
    lister = catalogue["list_chats"]
    page = parse(ListChats, {"limit": 100, **query, "next_token": token})
    return r.parse(r.ChatList, await client.send(lister.wire(page), lister.rate), tool)


async def plan_tidy(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Walk every chat (largest pages, so fewest requests) and propose actions by the request's criteria.
    Unread counts come from the list where Cliq gives them, from get_chat only for chats without one.
    Stops at max_chats proposals, a rate limit or the time budget with a cursor (next_token) that resumes
    right after the last chat checked: no chat is skipped across calls."""
    assert isinstance(request, PlanTidy)
    now, started = datetime.now(timezone.utc), client.now()
    fingerprint = _fingerprint(request, "max_chats")
    token: str | None = None
    after: str | None = None
    listed = 0  # chats on the pages before the current one
    if request.next_token:
        cursor = _decode(request.next_token, fingerprint, "plan_tidy")
        token, after, listed = cursor["t"], cursor["a"], cursor["l"]
    checked, scanned, pages, pinned_skipped = listed, 0, 0, 0
    actions: list[dict[str, Any]] = []
    why, retry_after, resume = "", None, None
    query = {"type": request.chat_type, "name": request.name}
    seen_tokens: set[str] = set()
    while True:
        if len(actions) >= request.max_chats or pages >= MAX_PAGES or client.now() - started > TIME_BUDGET_S:
            why = "proposal limit reached (max_chats)" if len(actions) >= request.max_chats else "time budget"
            resume = {"t": token, "a": None, "l": listed}
            break
        try:
            answer = await _list_page(client, catalogue, query, token, op.name)
        except Throttled as exc:
            why, retry_after, resume = (
                _rate_why(exc, catalogue["list_chats"]),
                _wait(exc),
                {"t": token, "a": None, "l": listed},
            )
            break
        pages += 1
        chats = answer.chats
        ids = [c.chat_id for c in chats]
        # Resume right after the last chat checked; if it is gone from the page, check the whole page again.
        start = ids.index(after) + 1 if after in ids else 0
        after, checked = None, listed + start
        last_id = ids[start - 1] if start else None
        for raw in chats[start:]:
            if len(actions) >= request.max_chats or client.now() - started > TIME_BUDGET_S:
                why = "proposal limit reached (max_chats)" if len(actions) >= request.max_chats else "time budget"
                break
            try:
                action, pinned = await _judge(raw, request, now, client, catalogue)
            except Throttled as exc:
                why, retry_after = _rate_why(exc, catalogue["get_chat"]), _wait(exc)
                break
            actions += [action] if action else []
            pinned_skipped += pinned
            scanned, checked, last_id = scanned + 1, checked + 1, raw.chat_id
        if why:
            resume = {"t": token, "a": last_id, "l": listed}
            listed += len(chats)
            break
        listed += len(chats)
        await progress(pages, None, f"{listed} chats scanned, {len(actions)} to tidy")
        token = answer.next_token
        if not token or token in seen_tokens:  # a repeated cursor would loop
            break
        seen_tokens.add(token)
    next_token = _encode({**resume, "f": fingerprint}) if resume is not None else None
    return {
        "scanned": scanned, "checked": checked, "listed": listed, "actions": actions,
        "pinned_skipped": pinned_skipped, "complete": resume is None, "why": why or None,
        "retry_after_s": retry_after, "next_token": next_token,
        "continue_with": {"next_token": next_token} if next_token else None,
    }  # fmt: skip


async def _judge(
    raw: r.ChatObject, request: PlanTidy, now: datetime, client: Sender, catalogue: Catalogue
) -> tuple[dict[str, Any] | None, bool]:
    """One chat's proposal, if any, and whether it is a pinned chat left out of closing."""
    last = parse_time(raw.last_modified_time)
    age = now - last if last else None
    info = raw.last_message_info
    closing = ""
    if request.empty and raw.chat_type == "group_chat" and (info is None or raw.participant_count <= 1):
        closing = "no messages" if info is None else "no one else in it"
    elif request.inactive_days and age and age > timedelta(days=request.inactive_days):
        closing = f"no activity since {moment(raw.last_modified_time)}"
    pinned_left = bool(closing) and bool(raw.pinned) and not request.include_pinned
    if closing and not pinned_left:
        return _action("close_chat", raw, closing, {"chat_id": clean(raw.chat_id, 64)}, raw.unread_message_count), False
    if request.unread_days and info and age and age > timedelta(days=request.unread_days):
        unread = raw.unread_message_count
        if unread is None:  # this Cliq's list left the count out: ask for this chat alone
            getter = catalogue["get_chat"]
            try:
                detail = await client.send(getter.wire(parse(GetChat, {"chat_id": raw.chat_id})), getter.rate)
            except (NotFound, InvalidArguments):
                return None, pinned_left  # gone since it was listed, or an id we cannot ask about
            unread = r.parse(r.ChatDetails, detail, "plan_tidy").data.unread_message_count
        if unread > 0:
            reason = f"{unread} unread since {moment(raw.last_modified_time)}"
            arguments = {"chat_id": clean(raw.chat_id, 64), "last_message_id": clean(info.message_id, 64)}
            return _action("mark_chat_read", raw, reason, arguments, unread), pinned_left
    return None, pinned_left


def _action(tool: str, raw: r.ChatObject, why: str, arguments: dict[str, Any], unread: int | None) -> dict[str, Any]:
    flags = [f"{unread} unread"] if unread and tool != "mark_chat_read" else []
    flags += [flag for flag, on in (("pinned", raw.pinned), ("muted", raw.muted)) if on]
    return {
        "tool": tool, "chat_id": clean(raw.chat_id, 64), "name": clean(raw.name, 80),
        "reason": "; ".join([why, *flags]), "arguments": arguments, "last_active": raw.last_modified_time,
        "unread": unread, "pinned": raw.pinned or None, "muted": raw.muted or None,
    }  # fmt: skip


async def clear_unread(
    op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue
) -> Any:
    """clear_unread_counts: one request for chat_ids; with ``all``, page the list (100 a page) and clear each
    page's unread chats in one request: ⌈N/100⌉ list and at most ⌈N/100⌉ clear requests for N chats, the
    least Cliq's API allows. Stops at a throttle or the time budget with a cursor to continue."""
    assert isinstance(request, ClearUnreadCounts)
    if not request.all:
        return await client.send(op.wire(request), op.rate)
    started = client.now()
    query = {"type": request.type, "name": request.name}
    token, items, already, listed, pages = request.next_token, [], 0, 0, 0
    why, retry_after, stopped = "", None, False
    seen_tokens: set[str] = set()
    while True:
        if pages >= MAX_PAGES or client.now() - started > TIME_BUDGET_S:
            why, stopped = "time budget", True
            break
        try:
            answer = await _list_page(client, catalogue, query, token, op.name)
        except Throttled as exc:
            why, retry_after, stopped = _rate_why(exc, catalogue["list_chats"]), _wait(exc), True
            break
        pages += 1
        listed += len(answer.chats)
        # A chat without a count in the list is sent too: Cliq skips chats without unread entries.
        unread = [c.chat_id for c in answer.chats if c.unread_message_count is None or c.unread_message_count > 0]
        already += len(answer.chats) - len(unread)
        if unread:
            try:
                wire = op.wire(parse(ClearUnreadCounts, {"chat_ids": unread}))
                items += [i.model_dump() for i in unread_cleared(unread, await client.send(wire, op.rate), op.name)]
            except Throttled as exc:
                outcome = "failed" if exc.status else "not_sent"
                items += [{"chat_id": c, "outcome": outcome, "reason": _throttle_reason(exc, op)} for c in unread]
                why, retry_after, stopped = _rate_why(exc, op), _wait(exc), True
                break  # the cursor re-lists this page
            except CliqError as exc:
                outcome, reason = outcome_of(exc)
                items += [{"chat_id": c, "outcome": outcome, "reason": reason} for c in unread]
        await progress(pages, None, f"{listed} chats listed, {len(items)} cleared")
        next_token = answer.next_token
        if not next_token or next_token in seen_tokens:
            break
        seen_tokens.add(next_token)
        token = next_token
    again = {"all": True, **{k: v for k, v in query.items() if v is not None}}
    if token:
        again["next_token"] = token
    return {
        "items": items, "already_read": already, "listed": listed, "complete": not stopped, "why": why or None,
        "retry_after_s": retry_after, "continue_with": again if stopped else None,
    }  # fmt: skip
