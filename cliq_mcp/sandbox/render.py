"""Chat objects as the API writes them (field names and formats from the notes and the seed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .state import Chat, WorkspaceState

# Fields `GET /chats/{id}?fields=` may name (the chat object plus the get-only unread count).
CHAT_FIELDS = frozenset(
    {
        "chat_id",
        "name",
        "chat_type",
        "participant_count",
        "created_time",
        "last_modified_time",
        "pinned",
        "removed",
        "muted",
        "creator",
        "parent_chat_id",
        "unread_message_count",
        "last_message_info",
    }
)


def iso_time(ms: int, tz_minutes: int = 0) -> str:
    """``2024-06-01T09:00:00.000Z`` in UTC, ``2025-06-15T10:30:00+05:30`` otherwise (as in the seed)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if tz_minutes == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.astimezone(timezone(timedelta(minutes=tz_minutes))).isoformat(timespec="seconds")


def base_chat(ws: WorkspaceState, chat: Chat) -> dict[str, Any]:
    """The fields every chat answer carries (create's answer has only these plus user_membership)."""
    data = _identity(chat)
    data["creator"] = _creator(ws, chat)
    return data


def chat_object(ws: WorkspaceState, chat: Chat, *, last_message: bool = True) -> dict[str, Any]:
    """A chat as the list and search answers show it (keys in the seed's order)."""
    data = _identity(chat)
    data["pinned"] = chat.pinned
    data["removed"] = False
    data["muted"] = chat.muted  # assumption: the mute state is a field of the chat object
    data["creator"] = _creator(ws, chat)
    info = last_message_info(chat) if last_message else None
    if info is not None:
        data["last_message_info"] = info
    if last_message and ws.unread_in_lists:  # list and search answers (see WorkspaceState.unread_in_lists)
        data["unread_message_count"] = chat.unread if ws.is_member(chat) else 0
    return data


def _identity(chat: Chat) -> dict[str, Any]:
    data: dict[str, Any] = {
        "chat_id": chat.chat_id,
        "name": chat.name,
        "chat_type": chat.chat_type,
        "participant_count": len(chat.members),
        "created_time": iso_time(chat.created_ms, chat.tz_minutes),
        "last_modified_time": iso_time(chat.modified_ms, chat.tz_minutes),
    }
    if chat.parent_chat_id is not None:
        data["parent_chat_id"] = chat.parent_chat_id  # assumption: threads name their parent
    return data


def _creator(ws: WorkspaceState, chat: Chat) -> dict[str, str]:
    return {"id": chat.creator_id, "name": ws.user_name(chat.creator_id)}


def last_message_info(chat: Chat) -> dict[str, Any] | None:
    visible = chat.visible_messages
    if not visible:
        return None
    message = visible[-1]
    return {
        "message_id": message.message_id,
        "sender": message.sender,
        "time": iso_time(message.time_ms, chat.tz_minutes),
        "content": {"text": message.text},
        "type": message.type,
    }
