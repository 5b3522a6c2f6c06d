"""Operations that take more than one request: walking every chat to plan a tidy-up, and applying one
write to several chats. The catalogue rows that use them are in operations.py; every request they send
is built by a catalogue row (passed in as ``catalogue``), never by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from cliq_mcp.errors import CliqError, InvalidArguments, Throttled
from cliq_mcp.models import GetChat, ListChats, PlanTidy, Request, parse
from cliq_mcp.operation import Catalogue, Operation, Progress, Sender
from cliq_mcp.summaries import clean, moment, parse_time

MAX_PAGES = 50  # 5,000 chats; Cliq's own limit (30 pages a minute) comes first anyway


async def apply_each(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Send the operation's request once per chat; one failure does not stop the others."""
    success: list[str] = []
    failure: dict[str, str] = {}
    wires = op.wires(request)
    chat_ids: list[str] = list(getattr(request, op.each))
    for done, (chat_id, wire) in enumerate(zip(chat_ids, wires, strict=True), start=1):
        try:
            await client.send(wire, op.rate)
            success.append(chat_id)
        except CliqError as exc:
            failure[chat_id] = exc.message
        await progress(done, len(wires), f"{done} of {len(wires)} chats")
    return {"success": success, "failure": failure}


async def plan_tidy(op: Operation, request: Request, client: Sender, progress: Progress, catalogue: Catalogue) -> Any:
    """Walk every chat (largest pages, so fewest requests) and propose actions by the request's criteria."""
    assert isinstance(request, PlanTidy)
    now = datetime.now(timezone.utc)
    lister, getter = catalogue["list_chats"], catalogue["get_chat"]
    actions: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []  # candidates whose unread count is only known from GET /chats/{id}
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
            answer = await client.send(lister.wire(page_request), lister.rate)
        except Throttled as exc:
            if not page:
                raise
            stopped = f"stopped early: {exc.message}"  # a partial plan is still worth having
            break
        found = answer.get("chats") if isinstance(answer, dict) else None
        chats = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
        for raw in chats:
            last = parse_time(raw.get("last_modified_time"))
            info = raw.get("last_message_info") if isinstance(raw.get("last_message_info"), dict) else None
            chat_id, name = str(raw.get("chat_id", "")), clean(raw.get("name"), 80)
            group = raw.get("chat_type") == "group_chat"
            members = raw.get("participant_count")
            if request.empty and group and (info is None or (isinstance(members, int) and members <= 1)):
                reason = "no messages" if info is None else "no one else in it"
                actions.append(_action("close_chat", chat_id, name, reason, {"chat_id": chat_id}))
            elif request.inactive_days and last and now - last > timedelta(days=request.inactive_days):
                reason = f"no activity since {moment(raw.get('last_modified_time'))}"
                actions.append(_action("close_chat", chat_id, name, reason, {"chat_id": chat_id}))
            elif request.unread_days and info and last and now - last > timedelta(days=request.unread_days):
                stale.append(raw)
        scanned += len(chats)
        page += 1
        await progress(page, None, f"{scanned} chats scanned, {len(actions)} to tidy")
        token = answer.get("next_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token or token in seen_tokens:  # a repeated cursor would loop
            break
        seen_tokens.add(token)
    for raw in stale[: max(0, request.max_chats - len(actions))]:
        chat_id = str(raw.get("chat_id", ""))
        try:
            detail = await client.send(getter.wire(parse(GetChat, {"chat_id": chat_id})), getter.rate)
        except (Throttled, InvalidArguments) as exc:
            stopped = f"unread counts checked in part: {exc.message}"
            break
        data = detail.get("data") if isinstance(detail, dict) else None
        unread = data.get("unread_message_count") if isinstance(data, dict) else None
        if isinstance(unread, int) and unread > 0:
            message_id = clean(raw["last_message_info"].get("message_id"), 64)
            reason = f"{unread} unread since {moment(raw.get('last_modified_time'))}"
            arguments = {"chat_id": chat_id, "last_message_id": message_id}
            actions.append(_action("mark_chat_read", chat_id, clean(raw.get("name"), 80), reason, arguments))
    return {"scanned": scanned, "actions": actions[: request.max_chats], "stopped": stopped}


def _action(tool: str, chat_id: str, name: str, reason: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tool": tool, "chat_id": chat_id, "name": name, "reason": reason, "arguments": arguments}
