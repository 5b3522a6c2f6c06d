"""The question a person is asked: built from the target as Cliq describes it right now."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cliq_mcp.cliq.responses import ChatDetails, ChatObject, CliqChatList, MemberList, WrongShape, read_answer
from cliq_mcp.core.errors import ApiError, NotConfirmed, NothingToDo, Throttled
from cliq_mcp.core.text import clean, moment, quoted
from cliq_mcp.tools.catalogue import BY_NAME
from cliq_mcp.tools.outputs import Bulk, Done, Item
from cliq_mcp.tools.row import Operation, Sender
from cliq_mcp.tools.walks import chat_states, skipped


@dataclass(frozen=True)
class Question:
    """What a person is asked: a sentence, and for a batch one line per chat."""

    sentence: str
    lines: tuple[str, ...] = field(default_factory=tuple)
    titles: dict[str, str] = field(default_factory=dict)  # chat id -> its name as read now (for the audit log)
    # A batch: chat id -> its line, as the person sees it (a yes kept for chats not sent yet is kept per line).
    per_chat: dict[str, str] = field(default_factory=dict, compare=False)
    chat: ChatObject | None = field(default=None, compare=False)  # the one chat, as read for the question
    names: dict[str, str] = field(default_factory=dict, compare=False)  # user id -> name, read for the question

    @property
    def full(self) -> str:
        """Everything: what the person is shown (every chat the yes covers, one line each; a batch is at most
        50 chats), compared before acting and bound into tokens."""
        return "\n".join((self.sentence, *self.lines))


def _named(chat: ChatObject, operation: str, where: str) -> ChatObject:
    """A chat a person is asked about must be named as Cliq names it: without its name nobody can be asked truly
    (an id tells a person nothing), so Cliq's answer is refused as it would be with any field the answer needs."""
    if chat.name is None:
        raise WrongShape(f"Cliq's answer to {operation} is missing {where}.name: nobody can be asked about a chat "
                         "without its name. Nothing was asked or changed.", "Try again later.", status=200)  # fmt: skip
    return chat


def _describe(chat_id: str, chat: ChatObject) -> str:
    kind = clean(chat.chat_type, 32).replace("_", " ")
    return f"the {kind} {quoted(chat.name)} ({chat_id})"


def _chat_line(chat_id: str, chat: ChatObject) -> str:
    kind = clean(chat.chat_type, 32).replace("_", " ")
    parts = [quoted(chat.name), kind, chat_id]
    when = moment(chat.last_modified_time)
    parts.append(f"last active {when[:10]}" if when else "last active unknown")
    unread = chat.unread_message_count
    parts += [f"{unread} unread" if unread else "unread unknown"] if unread != 0 else []
    parts += [flag for flag, on in (("pinned", chat.pinned), ("muted", chat.muted)) if on is True]
    return "- " + " · ".join(parts)


def _works_on(refused: frozenset[str]) -> str:
    if "direct_message" in refused:
        return "group chats and channels, not direct chats or bot chats"
    return "direct and group chats only"


async def _read(client: Sender, op_name: str, recent: bool = False, **fields: Any) -> Any:
    op = BY_NAME[op_name]
    return await client.send(op.wire(op.model(**fields)), op.rate, recent=recent)


async def build_question(
    client: Sender,
    op: Operation,
    values: dict[str, Any],
    *,
    answering: bool = False,
    before: Question | None = None,
    of: int | None = None,
    whose: str = "asked for",
    recent: bool = False,
) -> Question:
    """Read the target now and say exactly what will happen to it. Closing a closed chat is ``NothingToDo``,
    except for a call ``answering`` a question already asked (judged by that question: a replay is refused).
    ``before``: the question asked (the re-check right before acting): a removal reads only the members again,
    the chat as read for the question stands (what the yes covers is the people, named; no third read).
    ``recent``: a new question may be built from reads made in the last few seconds (a call that read the chat
    or its members just before); what is read right before acting never is."""
    if op.each:
        # One list request describes the open ones (Cliq's list takes up to 100 chat ids), a second says which
        # of the rest are closed. The person is asked about those that can be closed; the others are named as
        # skipped (the runner, walks.apply_each, skips the same ones).
        chat_ids: list[str] = values[op.each]
        found, closed = await chat_states(client, BY_NAME, chat_ids, fresh=before is not None)
        skip = skipped(chat_ids, found, closed)
        if len(skip) == len(chat_ids):
            items = [Item(chat_id=c, outcome=skip[c][0], reason=skip[c][1]) for c in chat_ids]  # type: ignore[arg-type]
            listing = "; ".join(f"{reason}: {', '.join(c for c in chat_ids if skip[c][1] == reason)}"
                                for reason in dict.fromkeys(r for _, r in skip.values()))  # fmt: skip
            if not any(c not in closed for c in chat_ids):
                raise NothingToDo(f"Nothing to do: every chat is already closed ({listing}). Nothing was asked or "
                                  "sent.", Bulk(items=items, complete=True))  # fmt: skip
            raise NotConfirmed(f"Not done: no chat here can be closed ({listing}). Nothing was asked or changed.",
                               "Check the chat ids with list_chats.")  # fmt: skip
        targets = [c for c in chat_ids if c not in skip]
        lines = tuple(_chat_line(c, _named(found[c], "list_chats", "chats[]")) for c in targets)
        for reason in dict.fromkeys(r for _, r in skip.values()):
            lines += (f"Skipped, {reason}: {', '.join(c for c in chat_ids if c in skip and skip[c][1] == reason)}",)
        titles = {c: clean(found[c].name, 200) for c in targets}
        chats = f"{len(targets)} chat{'s' if len(targets) != 1 else ''}"
        if of is not None and of > len(targets):  # more to come: the person knows it (a plan's, or a cut batch)
            chats += f" (of the {of} {whose}; the others are asked about later)"
        sentence = op.confirm.format(chats=chats)
        return Question(sentence, lines, titles, per_chat=dict(zip(targets, lines, strict=False)))
    chat_id = str(values["chat_id"])
    if op.fixed.get("operation") == "close_chat" and not answering:
        await _refuse_if_closed(client, chat_id)
    if before is not None and before.chat is not None and values.get("user_ids") is not None:
        data = before.chat
    else:
        read = await _read(client, "get_chat", recent=recent, chat_id=chat_id)
        data = _named(read_answer(ChatDetails, read, "get_chat").data, "get_chat", "data")
    chat = _describe(chat_id, data)
    if data.chat_type in op.refused_types:
        # Asking a person to approve what Cliq will refuse wastes their yes: refuse now, nothing asked.
        raise NotConfirmed(
            f"Not done: Cliq does not allow {op.name} on {chat}. Nothing was asked or changed.",
            f"{op.name} works on {_works_on(op.refused_types)}.",
        )
    people = ""
    who: tuple[str, ...] = ()
    names: dict[str, str] = {}
    user_ids: list[str] | None = values.get("user_ids")
    if user_ids is not None:
        members = await _read(client, "list_chat_members", recent=recent, chat_id=chat_id)
        roster = read_answer(MemberList, members, "list_chat_members")
        members = {m.user_id: m for m in roster.members}
        missing = [u for u in user_ids if u not in members]
        if missing:
            among = (
                ""
                if not roster.unreadable
                else (f" as Cliq named them ({len(roster.unreadable)} more were listed without a user id)")
            )
            raise NotConfirmed(
                f"Not done: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a member of "
                f"{chat}{among}. Nothing was changed.",
                "Use list_chat_members to see who is in the chat.",
            )
        # One line per person (up to 100): the sentence stays short, and every person the yes covers is shown.
        who = tuple(f"- {quoted(members[u].name)} <{clean(members[u].email_id or '-', 120)}> ({u})"
                    for u in user_ids)  # fmt: skip
        people = f"{len(user_ids)} member{'s' if len(user_ids) != 1 else ''}"
        names = {u: name for u in user_ids if (name := members[u].name)}
    title = clean(data.name, 200)
    return Question(op.confirm.format(chat=chat, people=people), who, titles={chat_id: title}, names=names,
                    chat=data)  # fmt: skip


async def _refuse_if_closed(client: Sender, chat_id: str) -> None:
    """Closing a closed chat again asks nobody: say it is closed (get_chat does not tell, the list does)."""
    try:
        listed = read_answer(
            CliqChatList, await _read(client, "list_chats", chat_ids=[chat_id], closed=True, limit=1), ""
        )
    except Throttled:
        raise
    except ApiError:
        return  # an id this list cannot filter by: get_chat, next, still describes the chat
    for chat in listed.chats:
        if chat.chat_id == chat_id:
            raise NothingToDo(
                f"Chat {chat_id} ({quoted(chat.name)}) is already closed. Nothing was asked or sent.",
                Done(chat_id=chat_id, done="already_closed"),
            )
