"""Chat objects as the API writes them: only the fields Zoho's document names, and in list answers only
as many as the document promises (nothing in its chat object is required)."""

from __future__ import annotations

import hashlib
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
    """A chat as the list and search answers show it (keys in the seed's order). The mute state is not a
    field of the document's chat object: only the list's ``muted`` filter tells it."""
    data = _identity(chat)
    data["pinned"] = chat.pinned
    data["removed"] = False
    data["creator"] = _creator(ws, chat)
    if not last_message:
        return data
    count, last = listed(ws, chat)
    info = last_message_info(ws, chat) if last else None
    if info is not None:
        data["last_message_info"] = info
    if count:
        data["unread_message_count"] = chat.unread if ws.is_member(chat) else 0
    return data


def _roll(chat: Chat, salt: str) -> int:
    """0-99, fixed for a chat id: which of the document's liberties this chat's answers take."""
    return int(hashlib.sha256(f"{salt}:{chat.chat_id}".encode()).hexdigest()[:8], 16) % 100


def listed(ws: WorkspaceState, chat: Chat) -> tuple[bool, bool]:
    """Whether this chat's list entry carries its unread count, and its last message (see WorkspaceState.lists)."""
    if ws.lists == "full":
        return True, True
    if chat.list_shows is not None:
        return chat.list_shows
    return _roll(chat, "count") >= 50, _roll(chat, "last") >= 35


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


def last_message_info(ws: WorkspaceState, chat: Chat) -> dict[str, Any] | None:
    """The last visible message, in one of the document's two shapes: the examples' (with its message id)
    or, for about a quarter of the generated chats, the LastMessageInfo schema's (sender_id, text; no
    message id)."""
    visible = chat.visible_messages
    if not visible:
        return None
    message = visible[-1]
    when = iso_time(message.time_ms, chat.tz_minutes)
    if ws.lists == "document" and not chat.from_examples and _roll(chat, "shape") < 25:
        info: dict[str, Any] = {"sender_id": message.sender, "message_type": message.type, "text": message.text,
                                "time": when, "styles": {"highlight": False}}  # fmt: skip
        if message.sender in ws.users:
            info["sender_name"] = ws.user_name(message.sender)
        return info
    return {
        "message_id": message.message_id,
        "sender": message.sender,
        "time": when,
        "content": {"text": message.text},
        "type": message.type,
    }
