"""The question a person is asked: built from the target as Cliq describes it right now."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cliq_mcp.errors import NotConfirmed
from cliq_mcp.operation import Operation, Sender
from cliq_mcp.operations import BY_NAME
from cliq_mcp.responses import ChatDetails, ChatList, ChatObject, MemberList, parse
from cliq_mcp.summaries import clean, moment, quoted

SHOWN_IN_A_DIALOG = 10  # chats listed in an elicitation; the rest are counted ("and K more")


@dataclass(frozen=True)
class Question:
    """What a person is asked: a sentence, and for a batch one line per chat."""

    sentence: str
    lines: tuple[str, ...] = field(default_factory=tuple)
    names: dict[str, str] = field(default_factory=dict, compare=False)  # user id -> name, read for the question

    @property
    def full(self) -> str:
        """Everything, as compared before acting and bound into tokens."""
        return "\n".join((self.sentence, *self.lines))

    @property
    def brief(self) -> str:
        """For a dialog: the first chats, then how many more."""
        shown = self.lines[:SHOWN_IN_A_DIALOG]
        rest = len(self.lines) - len(shown)
        return "\n".join((self.sentence, *shown, *([f"… and {rest} more"] if rest else [])))


def _describe(chat_id: str, chat: ChatObject) -> str:
    kind = clean(chat.chat_type, 32).replace("_", " ")
    return f"the {kind} {quoted(chat.name)} ({chat_id})"


def _chat_line(chat_id: str, chat: ChatObject) -> str:
    kind = clean(chat.chat_type, 32).replace("_", " ")
    parts = [quoted(chat.name), kind, chat_id]
    when = moment(chat.last_modified_time)
    parts.append(f"last active {when[:10]}" if when else "last active unknown")
    parts += [flag for flag, on in (("pinned", chat.pinned), ("muted", chat.muted)) if on is True]
    return "- " + " · ".join(parts)


def _works_on(refused: frozenset[str]) -> str:
    if "direct_message" in refused:
        return "group chats and channels, not direct chats or bot chats"
    return "direct and group chats only"


async def _read(client: Sender, op_name: str, **fields: Any) -> Any:
    op = BY_NAME[op_name]
    return await client.send(op.wire(op.model(**fields)), op.rate)


async def build_question(client: Sender, op: Operation, values: dict[str, Any]) -> Question:
    """Read the target now and say exactly what will happen to it."""
    if op.each:
        # One list request describes them all (Cliq's list takes up to 100 chat ids).
        chat_ids: list[str] = values[op.each]
        listed = parse(ChatList, await _read(client, "list_chats", chat_ids=chat_ids, limit=100), "list_chats")
        found = {c.chat_id: c for c in listed.chats}
        missing = [c for c in chat_ids if c not in found]
        if missing:
            raise NotConfirmed(
                f"Not done: chat {', '.join(missing)} is not among your open chats. Nothing was changed.",
                "Leave out chats that are already closed or gone, and call again.",
            )
        lines = tuple(_chat_line(c, found[c]) for c in chat_ids)
        return Question(op.confirm.format(chats=f"{len(chat_ids)} chat{'s' if len(chat_ids) != 1 else ''}"), lines)
    chat_id = str(values["chat_id"])
    data = parse(ChatDetails, await _read(client, "get_chat", chat_id=chat_id), "get_chat").data
    chat = _describe(chat_id, data)
    if data.chat_type in op.refused_types:
        # Asking a person to approve what Cliq will refuse wastes their yes: refuse now, nothing asked.
        raise NotConfirmed(
            f"Not done: Cliq does not allow {op.name} on {chat}. Nothing was asked or changed.",
            f"{op.name} works on {_works_on(op.refused_types)}.",
        )
    people = ""
    names: dict[str, str] = {}
    user_ids: list[str] | None = values.get("user_ids")
    if user_ids is not None:
        roster = parse(MemberList, await _read(client, "list_chat_members", chat_id=chat_id), "list_chat_members")
        members = {m.user_id: m for m in roster.members}
        missing = [u for u in user_ids if u not in members]
        if missing:
            raise NotConfirmed(
                f"Not done: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a member of "
                f"{chat}. Nothing was changed.",
                "Use list_chat_members to see who is in the chat.",
            )
        named = ", ".join(
            f"{quoted(members[u].name)} <{clean(members[u].email_id or '-', 120)}> ({u})" for u in user_ids
        )
        people = f"{len(user_ids)} member{'s' if len(user_ids) != 1 else ''}: {named}"
        names = {u: name for u in user_ids if (name := members[u].name)}
    return Question(op.confirm.format(chat=chat, people=people), names=names)
