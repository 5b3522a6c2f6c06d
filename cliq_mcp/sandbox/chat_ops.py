"""Routes on one chat: update operations, members, fork, typing, leave, mute."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from . import inputs
from .chats import check_participant_limit, new_chat
from .context import Ctx
from .errors import ApiError, invalid_inputs, param_missing
from .render import chat_object
from .state import Chat

# Each `PUT /chats/{id}` operation and the only fields it may carry besides `operation`.
UPDATE_FIELDS: dict[str, tuple[str, ...]] = {
    "update_title": ("title",),
    "update_history_status": ("history_status",),
    "mark_as_read": ("last_message_id",),
    "mark_as_unread": ("message_id",),
    "clear_local_history": (),
    "close_chat": (),
}
ONE_TO_ONE = ("direct_message", "bot")
MEMBER_FIELDS = ("user_id", "email_id", "name")
ACTIONS = ("typing", "text_entered", "text_cleared")
NO_CONTENT = 204


def update_chat(ctx: Ctx) -> Response:
    body = ctx.body()
    ctx.query(())
    if "operation" not in body:
        raise param_missing("operation")
    operation = body["operation"]
    if not isinstance(operation, str) or operation not in UPDATE_FIELDS:
        raise invalid_inputs(f"operation must be one of: {', '.join(UPDATE_FIELDS)}.")
    ctx.admit(operation)
    chat = ctx.chat()
    inputs.check_fields(body, ("operation", *UPDATE_FIELDS[operation]))
    if operation == "update_title":
        title = inputs.text(body, "title", 255)
        if chat.chat_type == "channel":
            raise ApiError(400, "channel_title_update_not_supported", "A channel's title cannot be changed here.")
        if chat.chat_type in ONE_TO_ONE:  # the document: allowed only where a contact's display name is preferred
            raise ApiError(400, "contact_rename_not_supported", "Renaming contacts in one-to-one chats is not "
                           "allowed when contact display name is not preferred.")  # fmt: skip
        chat.name = title
        chat.modified_ms = ctx.ws.now_ms()
        return JSONResponse({"type": "chat.title", "data": {"title": title, "chat_id": chat.chat_id}})
    if operation == "update_history_status":
        chat.history_enabled = inputs.choice(body, "history_status", ("enabled", "disabled")) == "enabled"
    elif operation == "mark_as_read":
        # Everything up to and including the message is read (so the last message leaves 0 unread).
        chat.unread = len(chat.visible_messages) - _message(chat, body, "last_message_id") - 1
    elif operation == "mark_as_unread":
        chat.unread = len(chat.visible_messages) - _message(chat, body, "message_id")
    elif operation == "clear_local_history":
        if chat.chat_type not in ("direct_message", "group_chat"):
            raise ApiError(
                400,
                "chat_clear_local_history_not_supported",
                "Only direct and group chats can have their history cleared.",
            )
        chat.cleared = len(chat.messages)
        chat.unread = 0
    else:  # close_chat
        chat.closed = True
    return Response(status_code=NO_CONTENT)


def add_members(ctx: Ctx) -> Response:
    ctx.admit("add_members")
    ctx.query(())
    chat, body = ctx.chat(), ctx.body()
    inputs.check_fields(body, ("user_ids",))
    user_ids = inputs.id_list(body, "user_ids", 1, 100)
    inputs.known_users(user_ids, ctx.ws.users)
    if chat.chat_type in ONE_TO_ONE:
        raise ApiError(400, "one_to_one_chat_add_member_not_allowed", "Members cannot be added to a direct chat.")
    # assumption: users already in the chat are skipped and left out of added_user_ids.
    added = [uid for uid in dict.fromkeys(user_ids) if uid not in chat.members]
    check_participant_limit(ctx.ws, len(chat.members) + len(added))
    chat.members.extend(added)
    if added:
        chat.modified_ms = ctx.ws.now_ms()
    return JSONResponse({"type": "chat.member", "data": {"chat_id": chat.chat_id, "added_user_ids": added}})


def remove_members(ctx: Ctx) -> Response:
    ctx.admit("remove_members")
    inputs.no_body(ctx.sent)
    q = ctx.query(("user_ids",))
    user_ids = q.csv("user_ids", max_items=100, digits=True)  # assumption: at most 100 ids, like adding
    if user_ids is None:
        raise param_missing("user_ids")
    chat = ctx.chat()
    if chat.chat_type in ONE_TO_ONE:
        raise ApiError(
            400, "one_to_one_chat_delete_member_not_allowed", "Members cannot be removed from a direct chat."
        )
    removed = list(dict.fromkeys(user_ids))
    strangers = [uid for uid in removed if uid not in chat.members]
    if strangers:
        # assumption: ids that are not members fail the whole request and nothing is removed.
        raise invalid_inputs(f"Not member(s) of this chat: {', '.join(strangers)}.")
    # assumption: removing yourself is allowed and works like leaving.
    chat.members = [uid for uid in chat.members if uid not in removed]
    chat.modified_ms = ctx.ws.now_ms()
    return JSONResponse({"type": "chat.member", "data": {"chat_id": chat.chat_id, "removed_user_ids": removed}})


def list_members(ctx: Ctx) -> Response:
    ctx.admit("list_members")
    fields = ctx.query(("fields",)).csv("fields", max_items=3, choices=MEMBER_FIELDS)
    wanted = [name for name in MEMBER_FIELDS if fields is None or name in fields]
    chat = ctx.chat(member=False)
    members = []
    for uid in chat.members:
        user = ctx.ws.users[uid]
        record = {"user_id": user.user_id, "email_id": user.email_id, "name": user.name}
        members.append({name: record[name] for name in wanted})
    return JSONResponse({"members": members})


def fork_chat(ctx: Ctx) -> Response:
    ctx.admit("fork_chat")
    ctx.query(())
    chat, body = ctx.chat(), ctx.body()
    inputs.check_fields(body, ("message_id", "title"), ("user_ids", "include_participants"))
    title = inputs.text(body, "title", 255)
    raw_ids = body.get("user_ids")
    if raw_ids is not None and not isinstance(raw_ids, str):
        raise invalid_inputs("'user_ids' must be a comma-separated string of user ids, not an array.")
    include = inputs.boolean(body, "include_participants") if "include_participants" in body else False
    start = _message(chat, body, "message_id")
    if include:
        user_ids = list(chat.members)
    elif raw_ids is None:
        # assumption: a fork has no minimum size; without user_ids it holds only the caller.
        user_ids = []
    else:
        user_ids = [inputs.id_value(uid.strip(), "user_ids") for uid in raw_ids.split(",")]
        inputs.known_users(user_ids, ctx.ws.users)
    # The fork starts at the chosen message (assumption: copied with their ids).
    fork = new_chat(ctx.ws, title, "group_chat", user_ids, messages=list(chat.visible_messages[start:]))
    return JSONResponse({"type": "chat", "data": chat_object(ctx.ws, fork, last_message=False)})


def send_activity(ctx: Ctx) -> Response:
    ctx.admit("send_activity")
    ctx.query(())
    chat, body = ctx.chat(), ctx.body()
    inputs.check_fields(body, ("action",))
    chat.last_activity = inputs.choice(body, "action", ACTIONS)
    return Response(status_code=NO_CONTENT)


def leave_chat(ctx: Ctx) -> Response:
    chat = _bodiless(ctx, "leave_chat")
    if chat.chat_type in ONE_TO_ONE:
        raise ApiError(400, "one_to_one_chat_leave_not_allowed", "You cannot leave a direct chat.")  # assumption
    chat.members.remove(ctx.ws.me)
    chat.unread = 0
    return Response(status_code=NO_CONTENT)


def mute_chat(ctx: Ctx) -> Response:
    _bodiless(ctx, "mute_chat").muted = True
    return Response(status_code=NO_CONTENT)


def unmute_chat(ctx: Ctx) -> Response:
    _bodiless(ctx, "unmute_chat").muted = False
    return Response(status_code=NO_CONTENT)


def _bodiless(ctx: Ctx, operation: str) -> Chat:
    ctx.admit(operation)
    inputs.no_body(ctx.sent)
    ctx.query(())
    return ctx.chat()


def _message(chat: Chat, body: dict[str, Any], name: str) -> int:
    message_id = inputs.text(body, name, 100)
    index = chat.message_index(message_id)
    if index is None:
        # assumption: a message id that is not (or no longer) in the chat is an invalid input.
        raise invalid_inputs(f"The message '{message_id}' is not in this chat.")
    return index
