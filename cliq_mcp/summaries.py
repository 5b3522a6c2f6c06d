"""From Cliq's answer to what the tool returns: a short text for the model and a small structured
object for programs. Pure functions, one per kind of answer.

Names, titles and message texts are written by other people. They are stripped of control and
invisible characters, bounded, and always shown inside quotes, so they read as data.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict

from cliq_mcp.models import Request

NAME_LIMIT = 80
ID_LIMIT = 64
MESSAGE_LIMIT = 200


def clean(value: Any, limit: int) -> str:
    """Other people's text made safe to show: no control/format/private characters, one line, bounded."""
    text = str(value if value is not None else "")
    if not text.isprintable():  # the common case is already clean; only walk the rest
        text = "".join(
            " " if ch.isspace() else ch
            for ch in text
            if ch.isspace() or unicodedata.category(ch) not in {"Cc", "Cf", "Co", "Cs", "Cn"}
        )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: Any, limit: int = NAME_LIMIT) -> str:
    return json.dumps(clean(value, limit), ensure_ascii=False)


def parse_time(value: Any) -> datetime | None:
    """Cliq's ISO 8601 times (with Z or an offset; none means UTC); None when unparsable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)  # also proves it is representable in UTC
    except (ValueError, OverflowError):
        return None


def moment(value: Any) -> str | None:
    """ISO 8601 -> '2025-04-10 14:30Z'; anything unparsable is dropped."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%MZ") if parsed else None


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LastMessage(Output):
    message_id: str
    sender: str | None = None
    time: str | None = None
    text: str | None = None


class Chat(Output):
    chat_id: str
    name: str
    chat_type: str
    last_activity: str | None = None
    participants: int | None = None
    unread: int | None = None
    pinned: bool | None = None
    muted: bool | None = None
    creator: str | None = None
    last_message: LastMessage | None = None


class ChatList(Output):
    chats: list[Chat]
    next_token: str | None = None


class OneChat(Output):
    chat: Chat


class Preview(Output):
    would_send: dict[str, Any]  # method, path, query, body
    question: str | None = None  # destructive tools: what the person is asked to agree to
    confirmation_token: str | None = None
    expires_in_s: int | None = None


class Written(Output):
    """A write tool's answer: what happened or, for a dry run or a call awaiting confirmation, only a preview."""

    preview: Preview | None = None


class ChatWritten(Written):
    chat: Chat | None = None


class Bulk(Written):
    succeeded: list[str] | None = None
    failed: list[str] | None = None


class Done(Written):
    chat_id: str | None = None
    done: str | None = None
    title: str | None = None
    user_ids: list[str] | None = None


class Action(Output):
    tool: str
    chat_id: str
    name: str
    reason: str
    arguments: dict[str, Any]


class Plan(Output):
    scanned: int
    actions: list[Action]


class Member(Output):
    user_id: str
    name: str | None = None
    email_id: str | None = None


class Members(Output):
    chat_id: str
    members: list[Member]


Answer = tuple[str, Output]
Summary = Callable[[Request, Any], Answer]


def _data(response: Any) -> dict[str, Any]:
    """The object inside ``{"type": ..., "data": {...}}`` (or the answer itself)."""
    if not isinstance(response, dict):
        return {}
    data = response.get("data")
    return data if isinstance(data, dict) else response


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def chat(raw: dict[str, Any]) -> Chat:
    last = raw.get("last_message_info")
    creator = raw.get("creator")
    last_message = None
    if isinstance(last, dict) and last.get("message_id"):
        content = last.get("content")
        text = content.get("text") if isinstance(content, dict) else None
        last_message = LastMessage(
            message_id=clean(last["message_id"], ID_LIMIT),
            sender=clean(last["sender"], ID_LIMIT) if last.get("sender") is not None else None,
            time=last.get("time") if isinstance(last.get("time"), str) else None,
            text=clean(text, MESSAGE_LIMIT) if text is not None else None,
        )
    return Chat(
        chat_id=clean(raw.get("chat_id", ""), ID_LIMIT),
        name=clean(raw.get("name"), NAME_LIMIT),
        chat_type=clean(raw.get("chat_type", "unknown"), 32),
        last_activity=raw.get("last_modified_time") if isinstance(raw.get("last_modified_time"), str) else None,
        participants=_int(raw.get("participant_count")),
        unread=_int(raw.get("unread_message_count")),
        pinned=True if raw.get("pinned") is True else None,
        muted=True if raw.get("muted") is True else None,
        creator=clean(creator.get("name"), NAME_LIMIT) if isinstance(creator, dict) else None,
        last_message=last_message,
    )


def chat_line(c: Chat) -> str:
    parts = [c.chat_id, quoted(c.name), c.chat_type]
    if c.participants is not None and c.chat_type != "direct_message":
        parts.append(f"{c.participants} members")
    if c.unread:
        parts.append(f"{c.unread} unread")
    if when := moment(c.last_activity):
        parts.append(f"active {when}")
    parts += [flag for flag, on in (("pinned", c.pinned), ("muted", c.muted)) if on]
    return " · ".join(parts)


def _message_line(m: LastMessage) -> str:
    when = moment(m.time) or "?"
    return f"Last message {m.message_id} from {m.sender or '?'} at {when}: {quoted(m.text, MESSAGE_LIMIT)}"


SHORT_TYPES = {"direct_message": "dm", "group_chat": "group"}


def list_line(c: Chat) -> str:
    """One chat in a list, as short as it can be read: the model pays for every byte of every line."""
    when = moment(c.last_activity)
    parts = [c.chat_id, SHORT_TYPES.get(c.chat_type, c.chat_type), quoted(c.name, 60), when[:10] if when else "-"]
    if c.unread:
        parts.append(f"{c.unread} unread")
    parts += [flag for flag, on in (("pinned", c.pinned), ("muted", c.muted)) if on]
    return " | ".join(parts)


def chat_list(request: Request, response: Any) -> Answer:
    raw = _list(response.get("chats")) if isinstance(response, dict) else []
    # Lists carry what identifies and sorts a chat; get_chat has the rest (creator, last message).
    chats = [
        chat(c).model_copy(update={"creator": None, "last_message": None}) for c in raw or [] if isinstance(c, dict)
    ]
    token = response.get("next_token") if isinstance(response, dict) else None
    token = clean(token, 2000) if isinstance(token, str) and token else None
    lines = [f"{len(chats)} chat{'s' if len(chats) != 1 else ''} (id | type | name | last active):"]
    lines += [list_line(c) for c in chats]
    lines.append(f'More: call again with next_token="{token}".' if token else "End of list.")
    return "\n".join(lines), ChatList(chats=chats, next_token=token)


def one_chat(request: Request, response: Any) -> Answer:
    c = chat(_data(response))
    lines = [f"Chat {chat_line(c)}"]
    if c.creator:
        lines.append(f"Created by {quoted(c.creator)}")
    if c.last_message:
        lines.append(_message_line(c.last_message))
    return "\n".join(lines), OneChat(chat=c)


def created_chat(request: Request, response: Any) -> Answer:
    c = chat(_data(response))
    return f"Created chat {chat_line(c)}", ChatWritten(chat=c)


def read_status(request: Request, response: Any) -> Answer:
    data = _data(response)
    succeeded = [clean(i, ID_LIMIT) for i in _list(data.get("success")) if isinstance(i, str | int)]
    failed = [clean(i, ID_LIMIT) for i in _list(data.get("failure")) if isinstance(i, str | int)]
    text = f"Marked read: {len(succeeded)} chat(s){': ' + ', '.join(succeeded) if succeeded else ''}."
    if failed:
        text += f" Failed: {', '.join(failed)} (check the chat ids and last_message_id values)."
    return text, Bulk(succeeded=succeeded, failed=failed)


def cleared_unread(request: Request, response: Any) -> Answer:
    chat_ids = list(getattr(request, "chat_ids", []))
    # Cliq answers 204 with no per-chat detail: success applies to every chat sent.
    return f"Cleared unread counts of {len(chat_ids)} chat(s): {', '.join(chat_ids)}.", Bulk(
        succeeded=chat_ids, failed=[]
    )


def renamed(request: Request, response: Any) -> Answer:
    data = _data(response)
    chat_id = clean(data.get("chat_id") or getattr(request, "chat_id", ""), ID_LIMIT)
    title = clean(data.get("title", getattr(request, "title", "")), 255)
    return f"Renamed chat {chat_id} to {quoted(title, 255)}.", Done(chat_id=chat_id, done="renamed", title=title)


def members_changed(verb: str, key: str) -> Summary:
    def summary(request: Request, response: Any) -> Answer:
        data = _data(response)
        chat_id = clean(data.get("chat_id") or getattr(request, "chat_id", ""), ID_LIMIT)
        raw = data.get(key)
        user_ids = (
            [clean(u, ID_LIMIT) for u in raw] if isinstance(raw, list) else list(getattr(request, "user_ids", []))
        )
        text = f"{verb} {len(user_ids)} member(s) in chat {chat_id}: {', '.join(user_ids) or 'none'}."
        return text, Done(chat_id=chat_id, done=verb.lower(), user_ids=user_ids)

    return summary


def done(what: str, text: str) -> Summary:
    """For 204 answers: the request itself says what happened (``text`` is formatted with its fields)."""

    def summary(request: Request, response: Any) -> Answer:
        fields = request.model_dump()
        return text.format(**fields) + ".", Done(chat_id=str(fields.get("chat_id", "")), done=what)

    return summary


def members(request: Request, response: Any) -> Answer:
    raw = response.get("members") if isinstance(response, dict) else None
    people = [
        Member(
            user_id=clean(m.get("user_id", ""), ID_LIMIT),
            name=clean(m["name"], NAME_LIMIT) if m.get("name") is not None else None,
            email_id=clean(m["email_id"], 120) if m.get("email_id") is not None else None,
        )
        for m in (raw if isinstance(raw, list) else [])
        if isinstance(m, dict)
    ]
    chat_id = str(getattr(request, "chat_id", ""))
    lines = [f"{len(people)} member(s) of chat {chat_id} (user_id · name · email):"]
    lines += [f"{p.user_id} · {quoted(p.name)} · {p.email_id or '-'}" for p in people]
    return "\n".join(lines), Members(chat_id=chat_id, members=people)


def bulk(request: Request, response: Any) -> Answer:
    """For operations applied chat by chat: which worked, and why the others did not."""
    succeeded, failed = list(response["success"]), dict(response["failure"])
    text = f"Done for {len(succeeded)} chat(s){': ' + ', '.join(succeeded) if succeeded else ''}."
    if failed:
        text += " Failed: " + "; ".join(f"{chat_id}: {why}" for chat_id, why in failed.items())
    return text, Bulk(succeeded=succeeded, failed=list(failed))


def plan(request: Request, response: Any) -> Answer:
    actions = [Action(**a) for a in response["actions"]]
    stopped = f" ({response['stopped']}; call again later for the rest)" if response.get("stopped") else ""
    lines = [f"Scanned {response['scanned']} chats{stopped}: {len(actions)} to tidy (tool · chat id · name · why)."]
    lines += [f"- {a.tool} · {a.chat_id} · {quoted(a.name)} · {a.reason}" for a in actions]
    closing = [a.chat_id for a in actions if a.tool == "close_chat"]
    reading = [a.arguments for a in actions if a.tool == "mark_chat_read"]
    if closing:
        lines.append(f"To close them: close_chats with chat_ids={json.dumps(closing)} (the user is asked once).")
    if reading:
        lines.append(f"To mark them read: mark_chats_read with chats={json.dumps(reading)}.")
    return "\n".join(lines), Plan(scanned=response["scanned"], actions=actions)
