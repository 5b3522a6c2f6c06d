"""Operations that take more than one request: walking every chat to plan a tidy-up, and applying one
write to several chats. The catalogue rows that use them are in operations.py; every request they send
is built by a catalogue row (passed in as ``catalogue``), never by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from math import ceil
from typing import Any

from cliq_mcp import responses as r
from cliq_mcp.client import CHECK_FIRST
from cliq_mcp.errors import CliqError, InvalidArguments, ServerError, Throttled, TransportError
from cliq_mcp.models import GetChat, ListChats, PlanTidy, Request, parse
from cliq_mcp.operation import Catalogue, Operation, Progress, Sender
from cliq_mcp.summaries import clean, moment, operation_name, parse_time

MAX_PAGES = 50  # 5,000 chats; Cliq's own limit (30 pages a minute) comes first anyway
REASON = 160


def _throttle_reason(exc: Throttled, op: Operation) -> str:
    if exc.retry_after is not None:
        return f"throttled; retry in {ceil(exc.retry_after)} s"
    return f"throttled; Cliq may refuse it for up to {op.rate.lock}" if op.rate.lock else "throttled; retry later"


def _outcome(exc: CliqError) -> tuple[str, str]:
    """What a failed request means for its chat, from the client's error types."""
    reason = clean(exc.message, REASON)
    if isinstance(exc, r.WrongShape):
        return "failed", reason  # Cliq answered with an error where it promises no body
    if isinstance(exc, ServerError | TransportError) and CHECK_FIRST in exc.hint:
        return "may_have_been_applied", reason  # the request left; its answer was an error or never came
    if isinstance(exc, TransportError):
        return "not_sent", reason  # Cliq could not be reached at all
    return "failed", reason  # Cliq answered and refused it (ApiError), or our own checks did


async def apply_each(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Send the operation's request once per chat, and say per chat what became of it. One failure does not
    stop the others, but a throttle does: every further request would only extend Cliq's lock, so the rest
    are reported as not sent, with the wait."""
    items: list[dict[str, Any]] = []
    wires = op.wires(request)
    chat_ids: list[str] = list(getattr(request, op.each))
    stopped = ""
    for done, (chat_id, wire) in enumerate(zip(chat_ids, wires, strict=True), start=1):
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
            stopped = f"after a throttle; {reason.removeprefix('throttled; ')}"
        except CliqError as exc:
            outcome, reason = _outcome(exc)
            items.append({"chat_id": chat_id, "outcome": outcome, "reason": reason})
        await progress(done, len(wires), f"{done} of {len(wires)} chats")
    return {"items": items}


async def plan_tidy(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Walk every chat (largest pages, so fewest requests) and propose actions by the request's criteria."""
    assert isinstance(request, PlanTidy)
    now = datetime.now(timezone.utc)
    lister, getter = catalogue["list_chats"], catalogue["get_chat"]
    actions: list[dict[str, Any]] = []
    stale: list[r.ChatObject] = []  # candidates whose unread count is only known from GET /chats/{id}
    scanned, page, token, stopped = 0, 0, None, ""
    seen_tokens: set[str] = set()
    while len(actions) < request.max_chats:
        if page >= MAX_PAGES:
            stopped = f"stopped after {page} pages"
            break
        try:
            page_request = parse(
                ListChats, {"limit": 100, "type": request.chat_type, "name": request.name, "next_token": token}
            )
            answer = r.parse(r.ChatList, await client.send(lister.wire(page_request), lister.rate), "plan_tidy")
        except Throttled as exc:
            if not page:
                raise
            stopped = f"stopped early: {exc.message}"  # a partial plan is still worth having
            break
        for raw in answer.chats:
            last = parse_time(raw.last_modified_time)
            chat_id, name = clean(raw.chat_id, 64), clean(raw.name, 80)
            group = raw.chat_type == "group_chat"
            info = raw.last_message_info
            if request.empty and group and (info is None or raw.participant_count <= 1):
                reason = "no messages" if info is None else "no one else in it"
                actions.append(_action("close_chat", chat_id, name, reason, {"chat_id": chat_id}))
            elif request.inactive_days and last and now - last > timedelta(days=request.inactive_days):
                reason = f"no activity since {moment(raw.last_modified_time)}"
                actions.append(_action("close_chat", chat_id, name, reason, {"chat_id": chat_id}))
            elif request.unread_days and info and last and now - last > timedelta(days=request.unread_days):
                stale.append(raw)
        scanned += len(answer.chats)
        page += 1
        await progress(page, None, f"{scanned} chats scanned, {len(actions)} to tidy")
        token = answer.next_token
        if not token or token in seen_tokens:  # a repeated cursor would loop
            break
        seen_tokens.add(token)
    for raw in stale[: max(0, request.max_chats - len(actions))]:
        try:
            detail = await client.send(getter.wire(parse(GetChat, {"chat_id": raw.chat_id})), getter.rate)
        except (Throttled, InvalidArguments) as exc:
            stopped = f"unread counts checked in part: {exc.message}"
            break
        unread = r.parse(r.ChatDetails, detail, "plan_tidy").data.unread_message_count
        if unread > 0 and raw.last_message_info is not None:
            chat_id = clean(raw.chat_id, 64)
            message_id = clean(raw.last_message_info.message_id, 64)
            reason = f"{unread} unread since {moment(raw.last_modified_time)}"
            arguments = {"chat_id": chat_id, "last_message_id": message_id}
            actions.append(_action("mark_chat_read", chat_id, clean(raw.name, 80), reason, arguments))
    return {"scanned": scanned, "actions": actions[: request.max_chats], "stopped": stopped}


def _action(tool: str, chat_id: str, name: str, reason: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tool": tool, "chat_id": chat_id, "name": name, "reason": reason, "arguments": arguments}
