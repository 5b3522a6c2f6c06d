"""From Cliq's answer to what the tool returns: a short text for the model and a small structured
object for programs. Pure functions, one per kind of answer.

Other people's text goes through ``core.text`` (shown in quotes, as data); the structured content is a model
of ``tools.outputs``.
"""

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cliq_mcp.cliq import responses as r
from cliq_mcp.core.text import ID_LIMIT, LISTED, _q, clean, moment, quoted
from cliq_mcp.tools.inputs import Request, given_arguments
from cliq_mcp.tools.outputs import (
    SETTLED,
    Action,
    Bulk,
    Chat,
    ChatList,
    ChatWritten,
    Completeness,
    Done,
    Item,
    LastMessage,
    Member,
    Members,
    NothingDone,
    OneChat,
    Output,
    People,
    Person,
    Plan,
    PolicyChat,
    PolicyPlan,
)

Answer = tuple[str, Output]
# A summary reads the request, Cliq's answer, and the names this call learnt (user id -> name: emails resolved,
# the guard's member read), which it may show beside ids without asking Cliq again.
Summary = Callable[[Request, Any, Mapping[str, str]], Answer]
# A mute or unmute is checked only by the one list that tells the mute state (Zoho's chat object has no such field).
MUTE_NOTE = "(Cliq shows the mute state only in list_chats with muted=true: lists and get_chat do not say it)"
# Put in a list page's answer by its runner (walks.list_chats) when Cliq's cursor cannot be followed: why (short),
# and the sentence that says it.
CURSOR_ENDED = "cliq_mcp_cursor_ended"
CURSOR_LOOPED = ("Cliq repeated its cursor", "Cliq's cursor leads back to a page this listing already had, so "
                 "following it would only loop")  # fmt: skip
CURSOR_TOO_LONG = ("Cliq's cursor is too long to hand on", "Cliq's cursor is longer than a next_token this tool "
                   "takes back")  # fmt: skip


def operation_name(request: Request) -> str:
    """The tool a request is for (request models are named after their tools: GetChat -> get_chat)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(request).__name__).lower()


def _sender_name(raw: r.ChatObject, sender: str | None) -> str | None:
    """The sender's name where the chat's answer tells it: the last message itself (the document's schema
    shape names its sender), the creator (id and name), or in a direct chat, which is named after the other
    person, whoever of the two did not create it. No request is made for it."""
    info, creator = raw.last_message_info, raw.creator
    if info is not None and info.sender_name:
        return info.sender_name
    if sender is None or creator is None or creator.id is None:
        return None
    if sender == creator.id:
        return creator.name
    if raw.chat_type == "direct_message" and creator.name is not None and raw.name and creator.name != raw.name:
        return raw.name  # you created it, and someone else sent it: the person the chat is named after
    return None


def chat(raw: r.ChatObject) -> "Chat":
    last = raw.last_message_info
    return Chat(
        chat_id=raw.chat_id,
        name=raw.name,
        chat_type=raw.chat_type,
        last_activity=raw.last_modified_time,
        participants=raw.participant_count,
        unread=raw.unread_message_count,
        pinned=True if raw.pinned else None,
        muted=True if raw.muted else None,
        creator=raw.creator.name if raw.creator is not None else None,
        last_message=LastMessage(
            message_id=last.message_id, sender=last.sender, sender_name=_sender_name(raw, last.sender),
            time=last.time, text=last.text,
        )
        if last is not None
        else None,
    )  # fmt: skip


UNKNOWN = "?"  # what Cliq did not tell, in every text


def _named(c: Chat) -> str:
    return _q(c.name) if c.name is not None else "(name unknown)"


def _unread(c: Chat) -> str:
    """``3 unread``, ``0 unread``, or ``unread ?`` (Cliq did not say)."""
    return f"unread {UNKNOWN}" if c.unread is None else f"{c.unread} unread"


def chat_line(c: Chat) -> str:
    parts = [c.chat_id, _named(c), c.chat_type or f"type {UNKNOWN}"]
    if c.participants is not None and c.chat_type != "direct_message":
        parts.append(f"{c.participants} members")
    parts.append(_unread(c))
    when = moment(c.last_activity)
    parts.append(f"active {when}" if when else f"active {UNKNOWN}")
    parts += [flag for flag, on in (("pinned", c.pinned), ("muted", c.muted)) if on]
    return " · ".join(parts)


def _message_line(m: LastMessage) -> str:
    when = moment(m.time) or UNKNOWN
    sender = f"{_q(m.sender_name)} ({m.sender})" if m.sender_name else m.sender or UNKNOWN
    which = f" {m.message_id}" if m.message_id else " (Cliq gave no message id)"
    return f"Last message{which} from {sender} at {when}: {_q(m.text)}"


LIST_COLUMNS = 'id type "name" last-active unread (? = Cliq did not say)'


def list_line(c: Chat) -> str:
    """One chat in a list, as short as it can be read (the model pays for every byte of every line): the
    columns of LIST_COLUMNS, then pinned/muted. The last message id is in the structured output."""
    when = moment(c.last_activity)
    unread = UNKNOWN if c.unread is None else str(c.unread)
    parts = [c.chat_id, c.chat_type or UNKNOWN, _named(c), when[:10] if when else UNKNOWN, unread]
    parts += [flag for flag, on in (("pinned", c.pinned), ("muted", c.muted)) if on]
    return " ".join(parts)


UNREAD_NAME = 40  # characters of a name in the unread view: "what's unread?" is read whole, every line


def unread_line(c: Chat) -> str:
    """One unread chat, shortest: id, true count, name (cut at UNREAD_NAME); the rest is in structured content."""
    name = c.name if c.name is None or len(c.name) <= UNREAD_NAME else c.name[: UNREAD_NAME - 1].rstrip() + "…"
    return f"{c.chat_id} {c.unread} {_q(name) if name is not None else '(name unknown)'}"


def _listed(c: Chat) -> "Chat":
    # Lists carry what identifies and sorts a chat, the unread count and the last message id (what marking
    # read needs) when Cliq gives them; get_chat has the rest (creator, last message).
    last_id = c.last_message.message_id if c.last_message is not None else None
    return c.model_copy(update={"creator": None, "last_message": None, "last_message_id": last_id})


def unknown_note(unknown: int, tool: str) -> str:
    how = (
        "the same list_chats call with unread=true (no next_token)"
        if tool == "list_chats"
        else ("list_chats with unread=true")
    )
    return f"Unread ? ({unknown}): not in Cliq's list, not none; {how} reads every count (get_chat: one chat's)."


def unread_view(request: Request, response: dict[str, Any]) -> Answer:
    """list_chats unread=true (walks.unread_chats): the unread chats with true counts."""
    chats = [_listed(chat(r.ChatObject.model_validate(c))) for c in response["chats"]]
    unknown = [clean(c["chat_id"], ID_LIMIT) for c in response["unknown"]]
    listed = ChatList(chats=chats, unread_unknown=len(unknown) or None)
    n = response["counts"]
    earlier = n["unread"] - len(chats)  # in the answers this call continues
    walked = f"{response['listed']} chats listed" + ("" if response["complete"] else " so far, NOT all")
    if here := response.get("filtered_here"):
        walked += f" (Cliq's list has no {here} filter: this server kept the {here} chats)"
    more = f"; {earlier} more in the earlier answers of this walk ({n['unread']} in all)" if earlier else ""
    lines = [f'{len(chats)} unread chat(s) in this answer{more}; {walked}; most recent first (id unread "name"):']
    if "limit" in request.model_fields_set:  # said, not silently passed over
        lines[0] += " (limit does not apply: unread=true walks every chat, 100 a page)"
    lines += [unread_line(c) for c in chats]
    if unknown:
        lines.append(f"Unread {UNKNOWN}, Cliq gave no count, not even asked about the chat alone (or would not show "
                     f"it alone) ({len(unknown)}): {', '.join(unknown)}.")  # fmt: skip
    lines += _walk_end(listed, response, "list_chats")
    if listed.complete and not getattr(request, "closed", None):  # said once, at the end of the walk
        lines.append("Closed chats are not in it (the same call with closed=true walks those).")
    listed.next_token = response["next_token"]
    return "\n".join(lines), listed


def chat_list(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    if getattr(request, "unread", False):
        return unread_view(request, response)
    answer = r.read_answer(r.CliqChatList, response, operation_name(request))
    here = getattr(request, "filtered_here", None)  # a type Cliq's list cannot filter: this server does
    raw = [c for c in answer.chats if here is None or c.chat_type in (here, None)]  # type not told: shown
    chats = [_listed(chat(c)) for c in raw[:LISTED]]
    muted = getattr(request, "muted", None)  # the list's muted filter is the one place Cliq tells it
    if muted is not None:
        chats = [c if c.muted is not None else c.model_copy(update={"muted": muted}) for c in chats]
    unknown = sum(c.unread is None for c in chats)
    listed = ChatList(chats=chats, next_token=answer.next_token or None, complete=True, filtered_here=here,
                      unread_unknown=unknown or None, unreadable=answer.unreadable or None)  # fmt: skip
    lines = [f"{len(chats)} chat{'s' if len(chats) != 1 else ''} ({LIST_COLUMNS}):"]
    if here is not None:
        untold = sum(c.chat_type is None for c in raw)
        maybe = f", and {untold} whose type Cliq did not tell (type ?, shown)" if untold else ""
        lines[0] = (f"{len(raw) - untold} {here} chat(s){maybe}, among the {len(answer.chats)} of this page (Cliq's "
                    f"list has no {here} filter: this server keeps them) ({LIST_COLUMNS}):")  # fmt: skip
    lines += [list_line(c) for c in chats]
    if len(raw) > LISTED:
        lines.append(f"({len(raw) - LISTED} more in Cliq's answer not shown.)")
    if unknown:
        lines.append(unknown_note(unknown, operation_name(request)))
    if answer.unreadable:
        lines.append(f"{len(answer.unreadable)} entr{'y' if len(answer.unreadable) == 1 else 'ies'} of Cliq's answer "
                     f"had no chat id (position {', '.join(map(str, answer.unreadable))}): not shown.")  # fmt: skip
    limit = getattr(request, "limit", None)
    if operation_name(request) == "search_chats" and isinstance(limit, int) and len(answer.chats) >= limit:
        # Search has no cursor: reaching the limit is the only sign that more may match.
        bigger = min(500, limit * 5)
        listed.complete, listed.why = False, f"limit reached ({limit}); search has no cursor, more may match"
        listed.continue_with = {**given_arguments(request, "limit"), "limit": bigger} if bigger > limit else None
        more = f"call again with limit={bigger}, or " if bigger > limit else ""
        lines.append(
            f"Not complete: the limit of {limit} was reached and search has no cursor, so more may match. "
            f"To see the rest: {more}narrow it (name, chat_type, modified_after/before), or page with list_chats."
        )
    elif isinstance(response, dict) and response.get(CURSOR_ENDED):
        why, sentence = response[CURSOR_ENDED]
        listed.complete, listed.why = False, why
        lines.append(f"Not complete: {sentence}: the rest cannot be listed now. Try again later.")
    elif listed.next_token:
        listed.complete, listed.why = False, "more pages"
        listed.continue_with = {**given_arguments(request, "next_token"), "next_token": listed.next_token}
        if {"modified_after", "modified_before"} & request.model_fields_set:  # "90d" moves: give the time it was
            lines.append(f"More: call again with {json.dumps(listed.continue_with, ensure_ascii=False)}.")
        else:
            lines.append(f"More: call again with the same arguments and next_token={_q(listed.next_token)}.")
    elif len(raw) > LISTED:
        listed.complete, listed.why = False, f"only the first {LISTED} shown"
    elif answer.unreadable:
        listed.complete, listed.why = False, "entries without a chat id in Cliq's answer"
    else:
        lines.append("End of list.")
    return "\n".join(lines), listed


def one_chat(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    c = chat(r.read_answer(r.ChatDetails, response, operation_name(request)).data)
    lines = [f"Chat {chat_line(c)}"]
    if c.creator:
        lines.append(f"Created by {_q(c.creator)}")
    if c.last_message:
        lines.append(_message_line(c.last_message))
    elif getattr(request, "include", None):
        lines.append("No last message in Cliq's answer.")
    return "\n".join(lines), OneChat(chat=c)


def created_chat(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    c = chat(r.read_answer(r.ChatEnvelope, response, operation_name(request), write=True).data)
    if getattr(request, "chat_type", None) == "direct_message":  # Cliq gives the direct chat you already have
        return f"Direct chat (yours already, or new) {chat_line(c)}", ChatWritten(chat=c)
    return f"Created chat {chat_line(c)}", ChatWritten(chat=c)


def _failure_reason(failure: r.ReadFailure) -> str:
    said = " ".join(part for part in (failure.code, failure.message) if part)
    return f"Cliq: {said}" if said else "Cliq refused it; check chat_id and message_id"


def read_status(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    answer = r.read_answer(r.ReadStatus, response, operation_name(request), write=True)
    succeeded = set(answer.data.success)
    failed = {f.chat_id: _failure_reason(f) for f in answer.data.failure}
    items: list[Item] = []
    for chat_id in dict.fromkeys(mark.chat_id for mark in getattr(request, "chats", [])):
        if chat_id in failed:  # listed as both: the failure is the safer reading
            items.append(Item(chat_id=chat_id, outcome="failed", reason=failed[chat_id]))
        elif chat_id in succeeded:
            items.append(Item(chat_id=chat_id, outcome="done"))
        else:
            items.append(Item(chat_id=chat_id, outcome="unconfirmed", reason="not in Cliq's answer"))
    return bulk_answer("Marked read", items)


def _walk_end(answer: Completeness, response: dict[str, Any], tool: str, *, added: bool = False) -> list[str]:
    """An incomplete walk's why and continuation, from a runner's answer, as text lines. ``continue_with`` is the
    whole of the next call's arguments, or (``added``) what to add to this call's."""
    if response.get("complete", True):
        answer.complete = True
        return []
    answer.complete, answer.why = False, response.get("why") or "stopped early"
    answer.continue_with, answer.retry_after_s = response.get("continue_with"), response.get("retry_after_s")
    wait = f" after {answer.retry_after_s} s" if answer.retry_after_s else ""
    if not answer.continue_with:
        return [f"Not complete ({answer.why}): nothing to continue with."]
    args = json.dumps(answer.continue_with, ensure_ascii=False)
    how = f"the same arguments plus {args}" if added else args
    return [f"Not complete ({answer.why}). For the rest, call {tool} again{wait} with {how}."]


def cleared_unread(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    if getattr(request, "all", False):  # walks.clear_unread walked the list
        return _cleared_all(response)
    if isinstance(response, dict) and response.get("plan"):  # a plan's chats (walks.clear_unread)
        items = [Item(**item) for item in response["items"]]
        return plan_batch("Cleared the unread counts of", operation_name(request), response, items)
    chat_ids = list(dict.fromkeys(getattr(request, "chat_ids", None) or []))
    return bulk_answer("Cleared unread counts", unread_cleared(chat_ids, response, operation_name(request)))


def _cleared_all(response: dict[str, Any]) -> Answer:
    """clear_unread_counts all=true, in counts: had unread, had none, unknown (Cliq's list gave no count: sent
    too, and Cliq clears what they had), cleared; chat ids only for those that did not end done."""
    n = response["counts"]
    problems = [Item(**item) for item in response["problems"]]
    answer = Bulk(items=problems or None, listed=response["listed"], cleared=n["cleared"], had_unread=n["had_unread"],
                  unread_unknown=n["unknown"], already_read=n["already_read"],
                  filtered_here=response.get("filtered_here"))  # fmt: skip
    sent = n["had_unread"] + n["unknown"]
    matched = n["had_unread"] + n["already_read"] + n["unknown"]
    here = response.get("filtered_here")
    which = (f"{matched} {here} chat(s) among {response['listed']} open chats listed (Cliq's list has no {here} "
             "filter: this server kept them)") if here else f"{response['listed']} open chat(s) listed"  # fmt: skip
    lines = [
        f"Cleared unread counts: {which}. Cliq's list said {n['had_unread']} had unread messages and "
        f"{n['already_read']} had none, and gave no count for {n['unknown']} (sent too: Cliq clears any they "
        f"had). {n['cleared']} of the {sent} chats sent (unread or no count) were cleared.",
        "Closed chats are not included (list_chats closed=true shows them; clear them by chat_ids).",
    ]
    lines += grouped(problems)
    lines += _walk_end(answer, response, "clear_unread_counts")
    text = "\n".join(lines)
    if sent and not n["cleared"] and problems:
        failure = NothingDone(text, "")
        failure.data = answer.model_dump(mode="json")
        raise failure
    return text, answer


def unread_cleared(chat_ids: list[str], response: Any, name: str) -> list[Item]:
    """What became of each chat of one clear_unread request."""
    data = response.get("data") if isinstance(response, dict) else None
    if isinstance(data, dict) and ("success" in data or "failure" in data):
        # Documented: 204 and no detail. A body with a per-chat report is read like mark_chats_read's.
        answer = r.read_answer(r.ReadStatus, response, name, write=True)
        succeeded = set(answer.data.success)
        failed = {f.chat_id: _failure_reason(f) for f in answer.data.failure}
        items = [
            Item(chat_id=c, outcome="failed", reason=failed[c])
            if c in failed
            else Item(chat_id=c, outcome="done")
            if c in succeeded
            else Item(chat_id=c, outcome="unconfirmed", reason="not in Cliq's answer")
            for c in chat_ids
        ]
    else:
        r.no_body(response, name)
        items = [Item(chat_id=c, outcome="done") for c in chat_ids]  # 204: success for every chat sent
    return items


def renamed(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    data = r.read_answer(r.TitleChanged, response, operation_name(request), write=True).data
    done = Done(chat_id=data.chat_id, done="renamed", title=data.title)
    return f"Renamed chat {done.chat_id} to {_q(done.title)}.", done


def members_changed(verb: str, key: str) -> "Summary":
    """Cliq's answer lists the members it changed under ``key``; that list is reported, not the request's."""

    def summary(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
        name = operation_name(request)
        data: r.AddedData | r.RemovedData
        if key == "added_user_ids":
            data = r.read_answer(r.MembersAdded, response, name, write=True).data
        else:
            data = r.read_answer(r.MembersRemoved, response, name, write=True).data
        user_ids = data.added_user_ids if isinstance(data, r.AddedData) else data.removed_user_ids
        done = Done(chat_id=data.chat_id, done=verb.lower(), user_ids=user_ids)
        listed = ", ".join(f"{quoted(names[u])} ({u})" if u in names else u for u in done.user_ids or []) or "none"
        return f"{verb} {len(user_ids)} member(s) in chat {done.chat_id}: {listed}.", done

    return summary


def done(what: str, text: str) -> "Summary":
    """For 204 answers: the request itself says what happened (``text`` is formatted with its fields)."""

    def summary(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
        r.no_body(response, operation_name(request))
        fields = request.model_dump()
        return text.format(**fields) + ".", Done(chat_id=str(fields.get("chat_id", "")), done=what)

    return summary


def members(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    answer = r.read_answer(r.MemberList, response, operation_name(request))
    people = [Member(user_id=m.user_id, name=m.name, email=m.email_id) for m in answer.members[:LISTED]]
    more = len(answer.members) - len(people)
    listed = Members(
        chat_id=str(getattr(request, "chat_id", "")),
        members=people,
        more=more or None,
        unreadable=answer.unreadable or None,
    )
    lines = [f"{len(answer.members)} member(s) of chat {listed.chat_id} (user_id · name · email):"]
    lines += [f"{p.user_id} · {_q(p.name) if p.name else UNKNOWN} · {p.email or UNKNOWN}" for p in people]
    if more:
        lines.append(f"({more} more not shown.)")
    if answer.unreadable:
        lines.append(f"{len(answer.unreadable)} more listed by Cliq without a user id (position "
                     f"{', '.join(map(str, answer.unreadable))}): not shown.")  # fmt: skip
    if any(not p.name or not p.email for p in people):
        lines.append(f"{UNKNOWN} = Cliq did not say.")
    return "\n".join(lines), listed


def people(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    """For ``people.find_people``: who was found, and from which source."""
    limit = int(getattr(request, "limit", 0) or 0)
    cut = 0 < limit <= len(response["people"])  # as many as asked for: there may be more
    unread = int(response.get("unread_member_lists") or 0)  # not looked at is not no one
    why = "limit reached" if cut else f"the members of {unread} group chats could not be read now" if unread else None
    found = People(people=[Person(**p) for p in response["people"]], source=response["source"],
                   complete=why is None, why=why)  # fmt: skip
    count = f"{len(found.people)} {'person' if len(found.people) == 1 else 'people'}"
    chats = any(p.chat_id for p in found.people)  # your chats were searched: each person's direct chat, if any
    unsaid = f"Not complete: {why} (Cliq throttled or refused them); try again later." if unread else ""
    if not found.people:
        if unread:
            return f"No one found so far in {found.source}. {unsaid}", found
        return f"No one found in {found.source}: try part of the name, or the exact email.", found
    lines = [f"{count} from {found.source} (user_id · name · email{' · direct chat' if chats else ''}):"]
    lines += [f"{p.user_id or '?'} · {_q(p.name)} · {p.email or '-'}{f' · {p.chat_id or chr(45)}' if chats else ''}"
              f"{' · exact name' if p.exact else ''}" for p in found.people]  # fmt: skip
    if cut:
        more = "a longer query" if limit >= 50 else "limit up to 50, or a longer query"
        lines.append(f"Maybe more: this is the limit ({limit}). For the rest: {more}.")
    elif unread:
        lines.append(unsaid)
    if any(p.user_id is None for p in found.people):
        lines.append("? = id unknown: list_chat_members of a group chat with them shows it.")
    return "\n".join(lines), found


def grouped(items: list[Item]) -> list[str]:
    """One line per outcome and reason, naming its chats: each reason is said once."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for item in items:
        groups.setdefault((item.outcome, item.reason), []).append(item.chat_id)
    return [f"{o.replace('_', ' ')}{f' ({why})' if why else ''}: {', '.join(ids)}" for (o, why), ids in groups.items()]


NOT_ASKED_YET = "not asked yet: this minute's budget for it is used up"  # cut before the person was asked


def bulk_answer(what: str, items: list[Item], retry_after_s: int | None = None) -> Answer:
    """A batch's outcome per chat, grouped by outcome and reason so that each reason is said once. Chats not
    sent (after a throttle) make it incomplete, with the call for the rest. A batch in which no chat ended as
    asked (done, or already closed) is an error (``NothingDone``) that still lists every chat."""
    done_count = sum(item.outcome == "done" for item in items)
    lines = [f"{what}: {done_count} of {len(items)} chat(s) done."]
    if done_count < len(items):  # every chat done: the ids are the ones the call named (structured content has them)
        lines += grouped(items)
    answer = Bulk(items=items, complete=True)
    rest = [item.chat_id for item in items if item.outcome == "not_sent"]
    if rest:
        wait = f" after {retry_after_s} s" if retry_after_s else ""
        budget = all(item.reason == NOT_ASKED_YET for item in items if item.outcome == "not_sent")
        why = "the account's budget for this minute is used up: the rest was not sent" if budget else (
            "throttled: the rest was not sent")  # fmt: skip
        answer.complete, answer.why, answer.retry_after_s = False, why, retry_after_s
        answer.continue_with = {"chat_ids": rest}
        lines.append(f"Not complete: call again{wait} with chat_ids={json.dumps(rest)} for the rest.")
    text = "\n".join(lines)
    if not any(item.outcome in SETTLED for item in items):
        unsure = any(item.outcome in ("may_have_been_applied", "unconfirmed") for item in items)
        failure = NothingDone(
            text, "Check those that may have been applied (e.g. with get_chat) first." if unsure else ""
        )
        failure.data = answer.model_dump(mode="json", exclude_none=True)  # programs get every chat's outcome too
        raise failure
    return text, answer


def bulk(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    """For operations applied chat by chat (``walks.apply_each``): what became of each chat."""
    items = [Item(**item) for item in response["items"]]
    if response.get("plan"):
        return plan_batch("Closed", operation_name(request), response, items)
    return bulk_answer("Done", items, response.get("retry_after_s"))


def plan_batch(what: str, tool: str, response: dict[str, Any], items: list[Item]) -> Answer:
    """A batch taken from a plan, in counts: the model gave a handle, not ids, and needs none back. Chats that
    did not end done are named, by outcome and reason; the plan's chats left are counted, with the call for
    them (the person's yes holds for those approved and not sent)."""
    handle, left = response["plan"], response.get("left_in_plan")
    alone = [Item(**item) for item in response.get("left_alone") or []]
    done = sum(item.outcome == "done" for item in items)
    lines = [f"{what} {done} of the {len(items)} chat(s) in this batch of plan {handle}."]
    lines += grouped([item for item in [*alone, *items] if item.outcome != "done"])
    answer = Bulk(items=[*alone, *items], plan=handle, left_in_plan=left, complete=not left)
    rest = [item.chat_id for item in items if item.outcome == "not_sent"]
    if response.get("plan_problem"):
        answer.complete, answer.why = False, response["plan_problem"]
        lines.append(f"Not complete: {response['plan_problem']}; what is above was done. Call plan_tidy again for "
                     "a plan of what is still due.")  # fmt: skip
    elif left is None:
        answer.complete, answer.why = False, "the plan expired"
        lines.append(f"Plan {handle} expired meanwhile: call plan_tidy again for what is still due.")
    elif left:
        wait = response.get("retry_after_s")  # not sent for pacing, or the next batch would not fit yet
        answer.why = "throttled: the rest was not sent" if rest else f"{left} more chat(s) in the plan"
        answer.retry_after_s, answer.continue_with = wait, {"plan": handle}
        kept = (
            f"; the {len(rest)} not sent were approved already (not asked about again while that yes lasts)"
            if rest
            else ""
        )
        lines.append(f"Not complete: {left} chat(s) left in the plan. Call {tool} again"
                     f"{f' after {wait} s' if wait else ''} with plan={json.dumps(handle)}{kept}.")  # fmt: skip
    elif response.get("plan_complete") is False:
        answer.complete, answer.why = False, "the plan's walk did not check every chat"
        lines.append(f"Not complete: nothing is left in plan {handle} so far, but the plan_tidy walk that makes it "
                     "did not check every chat yet: continue it with its next_token for the rest.")  # fmt: skip
    else:
        lines.append(f"Plan {handle} is done: nothing is left in it.")
    text = "\n".join(lines)
    if items and not any(item.outcome in SETTLED for item in items) and not rest:
        failure = NothingDone(text, "")
        failure.data = answer.model_dump(mode="json", exclude_none=True)
        raise failure
    return text, answer


SHOWN_ACTIONS = 5  # proposals a plan's text shows: the rest go by the plan's handle (structured content has all)


def tidy_plan(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    """plan_tidy: counts, the first few proposals and the plan's handle, which close_chats and
    clear_unread_counts take instead of ids (the model never echoes a hundred ids)."""
    actions = [Action(**a) for a in response["actions"]]
    handle, proposed = response.get("plan"), response.get("proposed") or {}
    answer = Plan(scanned=response["scanned"], checked=response["checked"], listed=response["listed"],
                  actions=actions, next_token=response.get("next_token"), plan=handle, proposed=proposed or None,
                  pinned_skipped=response.get("pinned_skipped") or None,
                  unjudged=response["unjudged"] or None)  # fmt: skip
    end = _walk_end(answer, response, "plan_tidy")
    closing, reading = proposed.get("close_chats", 0), proposed.get("clear_unread_counts", 0)
    if answer.complete:
        head = f"Checked all {answer.checked} chats (complete)"
    else:
        head = f"Checked {answer.checked} of {answer.listed} chats listed so far (NOT complete)"
    lines = [f"{head}. Plan {handle}: close {closing} chat(s), mark {reading} read." if handle else
             f"{head}: nothing to tidy."]  # fmt: skip
    if actions:
        shown = actions[:SHOWN_ACTIONS]
        more = f" (first {len(shown)} of {len(actions)} found by this call)" if len(actions) > len(shown) else ""
        lines.append(f"Proposed{more} (tool · chat id · name · why):")
        lines += [f"- {a.tool} · {a.chat_id} · {_q(a.name)} · {a.reason}" for a in shown]
    if answer.pinned_skipped:
        lines.append(f"{answer.pinned_skipped} pinned chat(s) left out of closing by this call (include_pinned=true "
                     "proposes them).")  # fmt: skip
    unknown = sum(a.unread is None for a in actions if a.tool == "close_chats")
    if response.get("barred"):
        lines.append(f"{response['barred']} chat(s) this server may not write to (CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS) "
                     "were not proposed.")  # fmt: skip
    if unknown:
        lines.append(f"unread ? ({unknown}): Cliq's list did not say whether they hold unread messages.")
    if answer.unjudged:
        lines.append(f"Not judged, nothing proposed ({len(answer.unjudged)}): " + "; ".join(answer.unjudged) + ".")
    if closing:
        lines.append(f"To close them: close_chats with plan={json.dumps(handle)} (50 a call; it asks the user, "
                     "listing every chat, and re-checks each first).")  # fmt: skip
    if reading:
        lines.append(f"To mark them read: clear_unread_counts with plan={json.dumps(handle)}.")
    return "\n".join(lines + end), answer


def policy_plan(request: Request, response: Any, names: Mapping[str, str]) -> Answer:
    chats = [PolicyChat(**c) for c in response["chats"]]
    counts = {k: response[k] for k in ("policy", "judged", "listed", "planned")}
    kept_out = response["excluded"]
    answer = PolicyPlan(**counts, over_limit=response["over_limit"] or None, chats=chats,
                        not_judged=response["not_judged"] or None,
                        limit_reached=response["limit_reached"], excluded=kept_out["counts"] or None,
                        unused_exclusions=kept_out["unused"] or None)  # fmt: skip
    end = _walk_end(answer, response, "preview_policy", added=True)
    so_far = "" if answer.complete else " so far (NOT complete: see the end)"
    lines = [f"{answer.planned} acts planned{so_far} by {answer.policy} (act · chat id · name · why):"]
    lines += [f"- {c.tool} · {c.chat_id} · {_q(c.name)} · {c.reason}" for c in chats if c.tool]
    if answer.limit_reached and answer.complete:
        lines.append(f"That is the run's limit (max_acts), reached after judging {answer.judged} chats: these are "
                     "all the acts a run would do now (complete); later chats wait for later runs.")  # fmt: skip
    elif answer.complete:
        lines.append(f"Every chat walked ({answer.judged} in this answer): this is all a run would do now (complete).")
    if answer.not_judged:
        lines.append(f"{answer.not_judged} chat(s) could not be judged (Cliq did not tell or show what the policy "
                     "needs): left alone; every_chat=true names them and why.")  # fmt: skip
    if answer.over_limit:
        lines.append(f"{answer.over_limit} more chat(s) are due but over the run's limits (max_acts): a later run.")
    if answer.excluded:
        lines.append("Kept out by [exclude]: " + "; ".join(f"{n} {why}" for why, n in answer.excluded.items()) + ".")
    if answer.unused_exclusions:
        lines.append("These [exclude] entries kept out no chat judged (check them): "
                     + ", ".join(answer.unused_exclusions) + ".")  # fmt: skip
    alone = [c for c in chats if not c.tool and not c.over_limit]
    lines += [f"- left alone · {c.chat_id} · {_q(c.name)} · {c.reason}" for c in alone]
    lines.append("Nothing was changed: `cliq-mcp tidy --policy FILE --apply` acts, re-checking each chat first.")
    return "\n".join(lines + end), answer
