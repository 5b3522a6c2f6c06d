"""Routes on the chat collection: list, search, get, create, bulk update."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse, Response

from . import inputs
from .context import Ctx
from .errors import ApiError, invalid_inputs, param_missing
from .inputs import Query
from .render import CHAT_FIELDS, base_chat, chat_object, last_message_info
from .state import Chat, WorkspaceState, sort_recent

# assumption: the list's default page size when `limit` is absent (undocumented).
DEFAULT_LIST_LIMIT = 20
LIST_PARAMS = [
    "limit",
    "next_token",
    "name",
    "modified_before",
    "modified_after",
    "pinned",
    "muted",
    "closed",
    "drafts",
    "joined",
    "chat_ids",
    "recipient",
    "type",
    "parent_chid",
]
# Zoho's document: GET /chats `type` takes one of these (not the chat object's chat_type values).
LIST_TYPES = {
    "dm": lambda chat: chat.chat_type == "direct_message",
    "threads": lambda chat: chat.chat_type == "thread",
    "channel": lambda chat: chat.chat_type == "channel",
    "bot": lambda chat: chat.chat_type == "bot",
    "muted": lambda chat: chat.muted,
    "guests": lambda chat: chat.guests,
}
SEARCH_PARAMS = [
    "title",
    "limit",
    "modified_before",
    "modified_after",
    "chat_type",
    "sort_by",
    "recipient",
    "parent_chat_id",
]
SEARCH_TYPES = ("direct_message", "group_chat", "channel", "thread")


def list_chats(ctx: Ctx) -> Response:
    ctx.admit("list_chats")
    ws, q = ctx.ws, ctx.query(LIST_PARAMS)
    limit = q.integer("limit", 1, 100, DEFAULT_LIST_LIMIT)
    name = q.get("name", max_length=200)  # assumption: same 200-character cap as search's title
    before, after = q.epoch_ms("modified_before"), q.epoch_ms("modified_after")
    if before is not None and after is not None and after >= before:
        # assumption: as in search, an empty window is an error rather than an empty page.
        raise invalid_inputs("modified_after must be earlier than modified_before.")
    pinned, muted, closed, drafts, joined = (
        q.boolean(flag) for flag in ("pinned", "muted", "closed", "drafts", "joined")
    )
    chat_ids = q.csv("chat_ids", max_items=100, digits=True)  # assumption: at most 100 ids
    recipient = _recipient(ws, q.get("recipient"), ids_only=True)  # the document: a USER_ID
    kind = q.get("type")
    if kind is not None and kind not in LIST_TYPES:
        raise invalid_inputs(f"The parameter 'type' has an invalid value '{kind}'; use one of {', '.join(LIST_TYPES)}.")
    parent = q.get("parent_chid")
    if parent is not None and not inputs.DIGITS.fullmatch(parent):
        raise invalid_inputs("parent_chid must be a chat id.")
    fingerprint = _fingerprint(q, limit)
    token = q.get("next_token")
    after_key = _decode_cursor(token, fingerprint) if token is not None else None

    common = _Filter(name, before, after, None, recipient)

    def keep(chat: Chat) -> bool:
        # assumption: without `joined`, the list holds the caller's chats; joined=false lists the org
        # channels the caller can see but has not joined. Closed chats show only with closed=true.
        if ws.is_member(chat) != (joined is not False) or not ws.is_visible(chat):
            return False
        return (
            chat.closed == (closed is True)
            and (pinned is None or chat.pinned == pinned)
            and (muted is None or chat.muted == muted)
            and (drafts is None or chat.draft == drafts)
            and (chat_ids is None or chat.chat_id in chat_ids)
            and (kind is None or LIST_TYPES[kind](chat))
            and (parent is None or chat.parent_chat_id == parent)
            and common(chat)
        )

    matches = sort_recent([chat for chat in ws.chats.values() if keep(chat)])
    if after_key is not None:
        matches = [chat for chat in matches if (chat.modified_ms, chat.chat_id) < after_key]
    page = matches[:limit]
    body: dict[str, Any] = {"chats": [chat_object(ws, chat) for chat in page]}
    if len(matches) > limit:
        body["next_token"] = _encode_cursor(page[-1], fingerprint)
    return JSONResponse(body)


def search_chats(ctx: Ctx) -> Response:
    """Search answers every error in the nested shape (the endpoint wrapper is told so)."""
    ctx.admit("search_chats")
    ws, q = ctx.ws, ctx.query(SEARCH_PARAMS)
    title = q.get("title", max_length=200)
    limit = q.integer("limit", 1, 500, 500)
    before, after = _search_time(q, "modified_before"), _search_time(q, "modified_after")
    if before is not None and after is not None and after >= before:
        raise _invalid_time()
    types = q.csv("chat_type", max_items=len(SEARCH_TYPES), choices=SEARCH_TYPES)
    sort_by = q.get("sort_by") or "recent"
    if sort_by not in ("usage", "recent"):
        raise invalid_inputs("An invalid value was passed. Please check chat_type or sort_by parameters.")
    recipient = _recipient(ws, q.get("recipient"))
    parent = q.get("parent_chat_id")
    if parent is not None and not inputs.DIGITS.fullmatch(parent):
        raise invalid_inputs("parent_chat_id must be a chat id.")
    common = _Filter(title, before, after, types, recipient)
    # assumption: search covers every chat the caller can see, closed ones included.
    found = sort_recent(
        [
            chat
            for chat in ws.chats.values()
            if ws.is_visible(chat) and common(chat) and (parent is None or chat.parent_chat_id == parent)
        ]
    )
    if sort_by == "usage":
        found.sort(key=lambda chat: chat.usage, reverse=True)
    return JSONResponse({"chats": [chat_object(ws, chat) for chat in found[:limit]]})


def get_chat(ctx: Ctx) -> Response:
    ctx.admit("get_chat")
    q = ctx.query(("include", "fields"))
    include = q.csv("include", max_items=1, choices=("last_message_info",))
    fields = q.csv("fields", max_items=20, choices=CHAT_FIELDS)
    chat = ctx.chat(member=False)
    data = chat_object(ctx.ws, chat, last_message=False)
    data["unread_message_count"] = chat.unread if ctx.ws.is_member(chat) else 0
    info = last_message_info(ctx.ws, chat) if include else None
    if info is not None:
        data["last_message_info"] = info
    if fields is not None:  # assumption: chat_id always stays, and so does an included last_message_info
        kept = {"chat_id", "last_message_info", *fields}
        data = {key: value for key, value in data.items() if key in kept}
    return JSONResponse({"type": "chat", "data": data})


def create_chat(ctx: Ctx) -> Response:
    ctx.admit("create_chat")
    ws, body = ctx.ws, ctx.body()
    ctx.query(())
    if "chat_type" not in body:
        raise param_missing("chat_type")
    if body["chat_type"] == "direct_message":
        inputs.check_fields(body, ("chat_type", "user_id"))
        user_id = inputs.id_value(body["user_id"], "user_id")
        inputs.known_users([user_id], ws.users)
        if user_id == ws.me:
            raise invalid_inputs("You cannot start a direct chat with yourself.")  # assumption
        chat = ws.direct_chat_with(user_id) or new_chat(ws, ws.user_name(user_id), "direct_message", [user_id])
        chat.closed = False  # assumption: asking for a closed DM again reopens it
    elif body["chat_type"] == "group_chat":
        inputs.check_fields(body, ("chat_type", "user_ids", "title"))
        user_ids = inputs.id_list(body, "user_ids", 1, 50)
        inputs.known_users(user_ids, ws.users)
        title = inputs.text(body, "title", 255)
        if len({ws.me, *user_ids}) < 3:
            raise ApiError(
                400,
                "insufficient_members_to_create_group_chat",
                "A group chat needs at least three members, including you.",
            )
        chat = new_chat(ws, title, "group_chat", user_ids)
    else:
        raise invalid_inputs("chat_type must be direct_message or group_chat.")
    data = base_chat(ws, chat)
    data["user_membership"] = {"pinned": chat.pinned, "removed": False}
    return JSONResponse({"url": "/v3/chats", "type": "chat", "data": data})


def bulk_update(ctx: Ctx) -> Response:
    ws, body = ctx.ws, ctx.body()
    ctx.query(())
    if "operation" not in body:
        raise param_missing("operation")
    operation = body["operation"]
    if operation == "read_status_update":
        ctx.admit("read_status_update")
        inputs.check_fields(body, ("operation", "read_status", "chats"))
        inputs.choice(body, "read_status", ("read",))
        entries = inputs.object_list(body, "chats", 1, 100)
        pairs = []
        for entry in entries:
            inputs.check_fields(entry, ("chat_id", "last_message_id"))
            pairs.append((inputs.id_value(entry["chat_id"], "chat_id"), inputs.text(entry, "last_message_id", 100)))
        success: list[str] = []
        failure: list[str] = []
        for chat_id, message_id in pairs:
            chat = ws.visible(chat_id)
            index = chat.message_index(message_id) if chat is not None and ws.is_member(chat) else None
            if chat is None or index is None:
                failure.append(chat_id)
                continue
            chat.unread = len(chat.visible_messages) - index - 1
            success.append(chat_id)
        return JSONResponse({"type": "chat.read_status", "data": {"success": success, "failure": failure}})
    if operation == "clear_unread":
        ctx.admit("clear_unread")
        inputs.check_fields(body, ("operation", "chat_ids"))
        chat_ids = inputs.id_list(body, "chat_ids", 1, 100)
        unknown = [cid for cid in chat_ids if (chat := ws.chats.get(cid)) is None or not ws.is_member(chat)]
        if unknown:
            # assumption: the 204 answer cannot report per chat, so unknown ids fail the whole request.
            raise invalid_inputs(f"Unknown or inaccessible chat id(s): {', '.join(unknown)}.")
        for cid in chat_ids:
            ws.chats[cid].unread = 0
        return Response(status_code=204)
    raise invalid_inputs("operation must be read_status_update or clear_unread.")


def new_chat(ws: WorkspaceState, name: str, chat_type: str, user_ids: list[str], **fields: Any) -> Chat:
    """A chat the caller creates now; members are the caller plus ``user_ids`` (deduplicated)."""
    members = list(dict.fromkeys([ws.me, *user_ids]))
    check_participant_limit(ws, len(members))
    now = ws.now_ms()
    return ws.add_chat(Chat(ws.new_chat_id(), name, chat_type, ws.me, now, now, members, **fields))


@dataclass(frozen=True)
class _Filter:
    """The filters list and search share: partial name, modified window, types, a member."""

    text: str | None
    before: int | None
    after: int | None
    types: list[str] | None
    recipient: str | None

    def __call__(self, chat: Chat) -> bool:
        return (
            (self.text is None or self.text.casefold() in chat.name.casefold())
            and (self.before is None or chat.modified_ms < self.before)
            and (self.after is None or chat.modified_ms > self.after)
            and (self.types is None or chat.chat_type in self.types)
            and (self.recipient is None or self.recipient in chat.members)
        )


def check_participant_limit(ws: WorkspaceState, count: int) -> None:
    if count > ws.participant_limit:
        raise ApiError(
            400,
            "group_chat_participants_limit_exceeded",
            f"A chat can have at most {ws.participant_limit} participants.",
        )


def _recipient(ws: WorkspaceState, value: str | None, *, ids_only: bool = False) -> str | None:
    """`recipient` names a user: the list's by USER_ID (the document), search's (assumption) by id or email.
    An unknown user is an invalid input."""
    if value is None:
        return None
    if ids_only and not inputs.DIGITS.fullmatch(value):
        raise invalid_inputs("The parameter 'recipient' must be a user id.")
    for user in ws.users.values():
        if value == user.user_id or value.casefold() == user.email_id.casefold():
            return user.user_id
    raise invalid_inputs(f"Unknown recipient '{value}'.")


def _search_time(q: Query, name: str) -> int | None:
    value = q.get(name)
    if value is None:
        return None
    if re.fullmatch(r"[0-9]{1,16}", value):
        return int(value)
    try:
        moment = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        raise _invalid_time() from None
    if moment.tzinfo is None:  # assumption: an ISO time without offset is UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _invalid_time() -> ApiError:
    return ApiError(
        400,
        "invalid.time.submitted",
        "Invalid timestamp format or modified_after must be earlier than modified_before.",
    )


def _fingerprint(q: Query, limit: int) -> str:
    """Ties a cursor to its query: the same filters and limit must come back with it."""
    query = sorted((k, v) for k, v in q.values.items() if k not in ("next_token", "limit"))
    return hashlib.sha256(json.dumps([limit, query]).encode()).hexdigest()[:16]


def _encode_cursor(last: Chat, fingerprint: str) -> str:
    raw = json.dumps({"m": last.modified_ms, "c": last.chat_id, "f": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str, fingerprint: str) -> tuple[int, str]:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        cursor = json.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid_inputs("The next_token is malformed.") from None
    if (
        not isinstance(cursor, dict)
        or not isinstance(cursor.get("m"), int)
        or not isinstance(cursor.get("c"), str)
        or not isinstance(cursor.get("f"), str)
    ):
        raise invalid_inputs("The next_token is malformed.")
    if cursor["f"] != fingerprint:
        raise invalid_inputs("The next_token belongs to a different query; send the same filters and limit.")
    return cursor["m"], cursor["c"]
