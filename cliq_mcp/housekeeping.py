"""Operations that take more than one request: walking every chat to plan a tidy-up, and applying one
write to several chats. The catalogue rows that use them are in operations.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cliq_mcp.client import CliqClient, Wire, path_segment
from cliq_mcp.errors import CliqError
from cliq_mcp.limits import GET_CHAT
from cliq_mcp.models import PlanTidy, Request
from cliq_mcp.summaries import clean, moment, parse_time

if TYPE_CHECKING:
    from cliq_mcp.operations import Operation

Progress = Callable[[float, float | None, str | None], Awaitable[None]]


async def apply_each(op: Operation, request: Request, client: CliqClient, progress: Progress) -> Any:
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


async def plan_tidy(op: Operation, request: Request, client: CliqClient, progress: Progress) -> Any:
    """Walk every chat (largest pages, so fewest requests) and propose actions by the request's criteria."""
    assert isinstance(request, PlanTidy)
    now = datetime.now(timezone.utc)
    base = {"limit": "100"}
    if request.chat_type:
        base["type"] = request.chat_type
    if request.name:
        base["name"] = request.name
    actions: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []  # candidates whose unread count is only known from GET /chats/{id}
    scanned, page, token = 0, 0, None
    while len(actions) < request.max_chats:
        answer = await client.send(Wire("GET", "/chats", params={**base, **({"next_token": token} if token else {})}),
                                   op.rate)  # fmt: skip
        chats = [c for c in (answer or {}).get("chats", []) if isinstance(c, dict)]
        for raw in chats:
            last = parse_time(raw.get("last_modified_time"))
            info = raw.get("last_message_info") if isinstance(raw.get("last_message_info"), dict) else None
            chat_id, name = str(raw.get("chat_id", "")), clean(raw.get("name"), 80)
            group = raw.get("chat_type") == "group_chat"
            if request.empty and group and (info is None or (raw.get("participant_count") or 0) <= 1):
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
        token = (answer or {}).get("next_token")
        if not token:
            break
    for raw in stale[: max(0, request.max_chats - len(actions))]:
        chat_id = str(raw["chat_id"])
        detail = await client.send(Wire("GET", f"/chats/{path_segment(chat_id)}"), GET_CHAT)
        unread = ((detail or {}).get("data") or {}).get("unread_message_count")
        if isinstance(unread, int) and unread > 0:
            message_id = str(raw["last_message_info"].get("message_id"))
            reason = f"{unread} unread since {moment(raw.get('last_modified_time'))}"
            arguments = {"chat_id": chat_id, "last_message_id": message_id}
            actions.append(_action("mark_chat_read", chat_id, clean(raw.get("name"), 80), reason, arguments))
    return {"scanned": scanned, "actions": actions[: request.max_chats]}


def _action(tool: str, chat_id: str, name: str, reason: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"tool": tool, "chat_id": chat_id, "name": name, "reason": reason, "arguments": arguments}
