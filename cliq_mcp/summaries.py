"""From Cliq's answer to what the tool returns: a short text for the model and a small structured
object for programs. Pure functions, one per kind of answer.

Names, titles and message texts are written by other people. They are stripped of control and
invisible characters, bounded, and always shown inside quotes, so they read as data.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from cliq_mcp import responses as r
from cliq_mcp.errors import CliqError
from cliq_mcp.models import Request

NAME_LIMIT = 80
ID_LIMIT = 64
MESSAGE_LIMIT = 200
KIND_LIMIT = 32
REASON_LIMIT = 160
EMAIL_LIMIT = 120
TITLE_LIMIT = 255
TOKEN_LIMIT = 2000
TIME_LIMIT = 64  # longer than any ISO 8601 time: not worth parsing
LISTED = 500  # chats or members shown from one answer: the largest page Cliq serves (search's limit)


def clean(value: Any, limit: int) -> str:
    """Other people's text made safe to show: no control/format/private characters, one line, bounded."""
    text = str(value if value is not None else "")
    # Only the start can be shown: a megabyte is not walked for the first ``limit`` characters. The slack
    # leaves room for characters the cleaning drops.
    text = text[: limit * 8 + 64]
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


def _q(value: str | None) -> str:
    """An already cleaned and bounded value, in quotes."""
    return json.dumps(value or "", ensure_ascii=False)


def parse_time(value: Any) -> datetime | None:
    """Cliq's ISO 8601 times (with Z or an offset; none means UTC); None when unparsable."""
    if not isinstance(value, str) or len(value) > TIME_LIMIT:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)  # also proves it is representable in UTC
    except (ValueError, OverflowError):
        return None


def utc_iso(value: Any) -> str | None:
    """ISO 8601 -> '2025-06-15T05:00:00Z' (UTC); anything unparsable is dropped."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


def moment(value: Any) -> str | None:
    """ISO 8601 -> '2025-04-10 14:30Z'; anything unparsable is dropped."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%MZ") if parsed else None


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _cleaned(limit: int) -> BeforeValidator:
    return BeforeValidator(lambda value: clean(value, limit))


# Every string an output model holds goes through ``clean`` with these caps on the way in, so the
# structured content is exactly as clean and bounded as the text, which is built from the same model.
Ident = Annotated[str, _cleaned(ID_LIMIT)]
Name = Annotated[str, _cleaned(NAME_LIMIT)]
Message = Annotated[str, _cleaned(MESSAGE_LIMIT)]
Kind = Annotated[str, _cleaned(KIND_LIMIT)]
Reason = Annotated[str, _cleaned(REASON_LIMIT)]
Email = Annotated[str, _cleaned(EMAIL_LIMIT)]
Cursor = Annotated[str, _cleaned(TOKEN_LIMIT)]
Time = Annotated[str | None, BeforeValidator(utc_iso)]  # UTC ISO 8601, or None when unparsable


class LastMessage(Output):
    message_id: Ident
    sender: Ident | None = None
    sender_name: Name | None = None  # when the chat's own answer tells it (its creator, a direct chat's name)
    time: Time = None
    text: Message | None = None


class Chat(Output):
    chat_id: Ident
    name: Name
    chat_type: Kind
    last_activity: Time = None
    participants: int | None = None
    unread: int | None = None
    last_message_id: Ident | None = None  # in lists: what mark_chats_read needs, when Cliq gives it
    pinned: bool | None = None
    muted: bool | None = None
    creator: Name | None = None
    last_message: LastMessage | None = None


class Completeness(Output):
    """Whether a list-like answer holds everything asked for; if not, why, and the arguments to call the same
    tool with for the rest (and the wait first, if any). Never set on a preview."""

    complete: bool | None = None
    why: Reason | None = None
    continue_with: dict[str, Any] | None = None
    retry_after_s: int | None = None


class ChatList(Completeness):
    chats: list[Chat]
    next_token: Cursor | None = None


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


# What became of one chat of a batch: done; failed (Cliq refused it); may_have_been_applied (the request
# left, the answer was lost); not_sent (never sent, e.g. after a throttle); unconfirmed (Cliq's answer
# does not mention it); already_closed and not_found (nothing was sent for it: nothing to do, or no such chat).
Outcome = Literal["done", "failed", "may_have_been_applied", "not_sent", "unconfirmed", "already_closed", "not_found"]
SETTLED = frozenset({"done", "already_closed"})  # the chat is as asked


class Item(Output):
    chat_id: Ident
    outcome: Outcome
    reason: Reason | None = None


class Bulk(Written, Completeness):
    items: list[Item] | None = None
    already_read: int | None = None  # clear_unread_counts with all: listed chats that had nothing unread


class Done(Written):
    chat_id: Ident | None = None
    done: str | None = None
    title: Annotated[str, _cleaned(TITLE_LIMIT)] | None = None
    user_ids: list[Ident] | None = None


class Action(Output):
    tool: str
    chat_id: Ident
    name: Name
    reason: Reason
    arguments: dict[str, Any]
    last_active: Time = None
    unread: int | None = None
    pinned: bool | None = None
    muted: bool | None = None


class Plan(Completeness):
    scanned: int  # chats checked by this call
    checked: int  # chats checked by this walk so far (this call and the earlier ones it continues)
    listed: int  # chats listed by this walk so far; checked == listed when complete
    actions: list[Action]
    next_token: Cursor | None = None  # plan_tidy's own cursor: call again with it for the rest
    pinned_skipped: int | None = None  # pinned chats that met a closing criterion (include_pinned to propose)


class PolicyChat(Output):
    chat_id: Ident
    name: Name
    chat_type: Kind
    action: Kind | None = None  # what the policy says is due (close, leave, mark_read, clear_unread)
    tool: Kind | None = None  # the act planned for this run (None: left alone, or over the run's limits)
    arguments: dict[str, Any] | None = None
    reason: Reason
    over_limit: bool | None = None


class PolicyPlan(Completeness):
    policy: Reason  # the file's hash: which version of the policy this is
    judged: int  # chats judged by this call
    listed: int  # chats listed by this walk so far (this call and the calls it continues)
    planned: int  # acts planned by this call
    over_limit: int | None = None  # chats due beyond the run's limits: a later run takes them
    limit_reached: bool | None = None  # the run's limit is planned: the chats after the last act were not judged
    excluded: dict[str, int] | None = None  # chats the [exclude] table kept out, by reason
    unused_exclusions: list[Reason] | None = None  # exclude entries that kept out no chat judged
    chats: list[PolicyChat]  # the acts planned (every chat judged, with every_chat)


class Member(Output):
    user_id: Ident
    name: Name | None = None
    email_id: Email | None = None


class Person(Output):
    user_id: Ident | None = None  # None: a direct chat with them is known, their id is not
    name: Name | None = None
    email: Email | None = None
    chat_id: Ident | None = None  # your direct chat with them


class People(Output):
    people: list[Person]
    source: Reason


class Members(Output):
    chat_id: Ident
    members: list[Member]
    more: int | None = None  # members Cliq listed beyond those shown


Answer = tuple[str, Output]
Summary = Callable[[Request, Any], Answer]


class NothingDone(CliqError):
    """A batch in which no chat was done: an error result that still lists what became of each chat."""


def operation_name(request: Request) -> str:
    """The tool a request is for (request models are named after their tools: GetChat -> get_chat)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(request).__name__).lower()


def _sender_name(raw: r.ChatObject, sender: str | None) -> str | None:
    """The sender's name where the chat's answer tells it: the creator (id and name), or in a direct chat,
    which is named after the other person, whoever of the two did not create it. No request is made for it."""
    creator = raw.creator
    if sender is None or creator is None or creator.id is None:
        return None
    if sender == creator.id:
        return creator.name
    if raw.chat_type == "direct_message" and creator.name is not None and creator.name != raw.name:
        return raw.name  # you created it, and someone else sent it: the person the chat is named after
    return None


def chat(raw: r.ChatObject) -> Chat:
    last, content = raw.last_message_info, None
    if last is not None and last.content is not None:
        content = last.content.text
    sender_name = _sender_name(raw, last.sender) if last is not None else None
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
            message_id=last.message_id, sender=last.sender, sender_name=sender_name, time=last.time, text=content
        )
        if last is not None
        else None,
    )


def chat_line(c: Chat) -> str:
    parts = [c.chat_id, _q(c.name), c.chat_type]
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
    sender = f"{_q(m.sender_name)} ({m.sender})" if m.sender_name else m.sender or "?"
    return f"Last message {m.message_id} from {sender} at {when}: {_q(m.text)}"


SHORT_TYPES = {"direct_message": "dm", "group_chat": "group"}


def list_line(c: Chat) -> str:
    """One chat in a list, as short as it can be read: the model pays for every byte of every line."""
    when = moment(c.last_activity)
    parts = [c.chat_id, SHORT_TYPES.get(c.chat_type, c.chat_type), _q(c.name), when[:10] if when else "-"]
    if c.unread:  # the last message id is in the structured output; clear_unread_counts needs none
        parts.append(f"{c.unread} unread")
    parts += [flag for flag, on in (("pinned", c.pinned), ("muted", c.muted)) if on]
    return " | ".join(parts)


def _listed(c: Chat) -> Chat:
    # Lists carry what identifies and sorts a chat, the unread count and the last message id (what marking
    # read needs) when Cliq gives them; get_chat has the rest (creator, last message).
    last_id = c.last_message.message_id if c.last_message is not None else None
    return c.model_copy(update={"creator": None, "last_message": None, "last_message_id": last_id})


def chat_list(request: Request, response: Any) -> Answer:
    answer = r.parse(r.ChatList, response, operation_name(request))
    chats = [_listed(chat(c)) for c in answer.chats[:LISTED]]
    listed = ChatList(chats=chats, next_token=answer.next_token or None, complete=True)
    lines = [f"{len(chats)} chat{'s' if len(chats) != 1 else ''} (id | type | name | last active):"]
    lines += [list_line(c) for c in chats]
    if len(answer.chats) > LISTED:
        lines.append(f"({len(answer.chats) - LISTED} more in Cliq's answer not shown.)")
    limit = getattr(request, "limit", None)
    if operation_name(request) == "search_chats" and isinstance(limit, int) and len(answer.chats) >= limit:
        # Search has no cursor: reaching the limit is the only sign that more may match.
        bigger = min(500, limit * 5)
        listed.complete, listed.why = False, f"limit reached ({limit}); search has no cursor, more may match"
        listed.continue_with = {"limit": bigger} if bigger > limit else None
        more = f"call again with limit={bigger}, or " if bigger > limit else ""
        lines.append(
            f"Not complete: the limit of {limit} was reached and search has no cursor, so more may match. "
            f"To see the rest: {more}narrow it (title, chat_type, modified_after/before), or page with list_chats."
        )
    elif listed.next_token:
        listed.complete, listed.why = False, "more pages"
        listed.continue_with = {"next_token": listed.next_token}
        lines.append(f"More: call again with next_token={_q(listed.next_token)}.")
    elif len(answer.chats) > LISTED:
        listed.complete, listed.why = False, f"only the first {LISTED} shown"
    else:
        lines.append("End of list.")
    return "\n".join(lines), listed


def one_chat(request: Request, response: Any) -> Answer:
    c = chat(r.parse(r.ChatDetails, response, operation_name(request)).data)
    lines = [f"Chat {chat_line(c)}"]
    if c.creator:
        lines.append(f"Created by {_q(c.creator)}")
    if c.last_message:
        lines.append(_message_line(c.last_message))
    return "\n".join(lines), OneChat(chat=c)


def created_chat(request: Request, response: Any) -> Answer:
    c = chat(r.parse(r.ChatEnvelope, response, operation_name(request), write=True).data)
    return f"Created chat {chat_line(c)}", ChatWritten(chat=c)


def _failure_reason(failure: r.ReadFailure) -> str:
    said = " ".join(part for part in (failure.code, failure.message) if part)
    return f"Cliq: {said}" if said else "Cliq refused it; check chat_id and last_message_id"


def read_status(request: Request, response: Any) -> Answer:
    answer = r.parse(r.ReadStatus, response, operation_name(request), write=True)
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


def _walk_end(answer: Completeness, response: dict[str, Any], tool: str) -> list[str]:
    """An incomplete walk's why and continuation, from a runner's answer, as text lines."""
    if response.get("complete", True):
        answer.complete = True
        return []
    answer.complete, answer.why = False, response.get("why") or "stopped early"
    answer.continue_with, answer.retry_after_s = response.get("continue_with"), response.get("retry_after_s")
    wait = f" after {answer.retry_after_s} s" if answer.retry_after_s else ""
    args = json.dumps(answer.continue_with) if answer.continue_with else "the same arguments"
    return [f"Not complete ({answer.why}). For the rest, call {tool} again{wait} with {args} added."]


def cleared_unread(request: Request, response: Any) -> Answer:
    if getattr(request, "all", False):  # multi_request.clear_unread walked the list
        items = [Item(**item) for item in response["items"]]
        already = response["already_read"]
        head = (
            f"{response['listed']} open chat(s) listed; {already} had nothing unread. Closed chats are not "
            "included (list_chats closed=true shows them; clear them by chat_ids)."
        )
        if items:
            text, answer = bulk_answer(f"{head}\nCleared unread counts", items, tool="clear_unread_counts",
                                       response=response)  # fmt: skip
            assert isinstance(answer, Bulk)
        else:
            answer = Bulk(items=[])
            text = "\n".join([f"{head}\nNothing to clear.", *_walk_end(answer, response, "clear_unread_counts")])
        answer.already_read = already
        return text, answer
    chat_ids = list(dict.fromkeys(getattr(request, "chat_ids", None) or []))
    return bulk_answer("Cleared unread counts", unread_cleared(chat_ids, response, operation_name(request)))


def unread_cleared(chat_ids: list[str], response: Any, name: str) -> list[Item]:
    """What became of each chat of one clear_unread request."""
    data = response.get("data") if isinstance(response, dict) else None
    if isinstance(data, dict) and ("success" in data or "failure" in data):
        # Documented: 204 and no detail. A body with a per-chat report is read like mark_chats_read's.
        answer = r.parse(r.ReadStatus, response, name, write=True)
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


def renamed(request: Request, response: Any) -> Answer:
    data = r.parse(r.TitleChanged, response, operation_name(request), write=True).data
    done = Done(chat_id=data.chat_id, done="renamed", title=data.title)
    return f"Renamed chat {done.chat_id} to {_q(done.title)}.", done


def members_changed(verb: str, key: str) -> Summary:
    """Cliq's answer lists the members it changed under ``key``; that list is reported, not the request's."""

    def summary(request: Request, response: Any) -> Answer:
        name = operation_name(request)
        data: r.AddedData | r.RemovedData
        if key == "added_user_ids":
            data = r.parse(r.MembersAdded, response, name, write=True).data
        else:
            data = r.parse(r.MembersRemoved, response, name, write=True).data
        user_ids = data.added_user_ids if isinstance(data, r.AddedData) else data.removed_user_ids
        done = Done(chat_id=data.chat_id, done=verb.lower(), user_ids=user_ids)
        names = request._names  # known from an already-made request: emails resolved, the guard's member read
        listed = ", ".join(f"{quoted(names[u])} ({u})" if u in names else u for u in done.user_ids or []) or "none"
        return f"{verb} {len(user_ids)} member(s) in chat {done.chat_id}: {listed}.", done

    return summary


def done(what: str, text: str) -> Summary:
    """For 204 answers: the request itself says what happened (``text`` is formatted with its fields)."""

    def summary(request: Request, response: Any) -> Answer:
        r.no_body(response, operation_name(request))
        fields = request.model_dump()
        return text.format(**fields) + ".", Done(chat_id=str(fields.get("chat_id", "")), done=what)

    return summary


def members(request: Request, response: Any) -> Answer:
    answer = r.parse(r.MemberList, response, operation_name(request))
    people = [Member(user_id=m.user_id, name=m.name, email_id=m.email_id) for m in answer.members[:LISTED]]
    more = len(answer.members) - len(people)
    listed = Members(chat_id=str(getattr(request, "chat_id", "")), members=people, more=more or None)
    lines = [f"{len(answer.members)} member(s) of chat {listed.chat_id} (user_id · name · email):"]
    lines += [f"{p.user_id} · {_q(p.name)} · {p.email_id or '-'}" for p in people]
    if more:
        lines.append(f"({more} more not shown.)")
    return "\n".join(lines), listed


def people(request: Request, response: Any) -> Answer:
    """For ``people.find_people``: who was found, and from which source."""
    found = People(people=[Person(**p) for p in response["people"]], source=response["source"])
    count = f"{len(found.people)} {'person' if len(found.people) == 1 else 'people'}"
    lines = [f"{count} from {found.source} (user_id · name · email · direct chat):"]
    lines += [f"{p.user_id or '?'} · {_q(p.name)} · {p.email or '-'} · {p.chat_id or '-'}" for p in found.people]
    if not found.people:
        lines.append("No one found: try part of the name, or the exact email.")
    elif any(p.user_id is None for p in found.people):
        lines.append("? = id unknown: list_chat_members of a group chat with them shows it.")
    return "\n".join(lines), found


def bulk_answer(
    what: str,
    items: list[Item],
    retry_after_s: int | None = None,
    *,
    tool: str = "",
    response: dict[str, Any] | None = None,
) -> Answer:
    """A batch's outcome per chat, grouped by outcome and reason so that each reason is said once. Chats not
    sent (after a throttle) make it incomplete, with the call for the rest. A batch in which no chat ended as
    asked (done, or already closed) is an error (``NothingDone``) that still lists every chat."""
    done_count = sum(item.outcome == "done" for item in items)
    groups: dict[tuple[str, str | None], list[str]] = {}
    for item in items:
        groups.setdefault((item.outcome, item.reason), []).append(item.chat_id)
    lines = [f"{what}: {done_count} of {len(items)} chat(s) done."]
    lines += [
        f"{outcome.replace('_', ' ')}{f' ({reason})' if reason else ''}: {', '.join(ids)}"
        for (outcome, reason), ids in groups.items()
    ]
    answer = Bulk(items=items, complete=True)
    rest = [item.chat_id for item in items if item.outcome == "not_sent"]
    if response is not None:  # a walk (clear_unread_counts with all): its own continuation
        lines += _walk_end(answer, response, tool)
    elif rest:
        wait = f" after {retry_after_s} s" if retry_after_s else ""
        answer.complete, answer.why, answer.retry_after_s = False, "throttled: the rest was not sent", retry_after_s
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


def bulk(request: Request, response: Any) -> Answer:
    """For operations applied chat by chat (``multi_request.apply_each``): what became of each chat."""
    return bulk_answer("Done", [Item(**item) for item in response["items"]], response.get("retry_after_s"))


def plan(request: Request, response: Any) -> Answer:
    actions = [Action(**a) for a in response["actions"]]
    answer = Plan(scanned=response["scanned"], checked=response["checked"], listed=response["listed"],
                  actions=actions, next_token=response.get("next_token"),
                  pinned_skipped=response.get("pinned_skipped") or None)  # fmt: skip
    end = _walk_end(answer, response, "plan_tidy")
    if answer.complete:
        head = f"Checked all {answer.checked} chats (complete)"
    else:
        head = f"Checked {answer.checked} of {answer.listed} chats listed so far (NOT complete)"
    lines = [f"{head}: {len(actions)} to tidy in this answer (tool · chat id · name · why)."]
    lines += [f"- {a.tool} · {a.chat_id} · {_q(a.name)} · {a.reason}" for a in actions]
    if answer.pinned_skipped:
        lines.append(f"{answer.pinned_skipped} pinned chat(s) left out of closing (include_pinned=true proposes them).")
    closing = [a.chat_id for a in actions if a.tool == "close_chat"]
    reading = [a.arguments for a in actions if a.tool == "mark_chat_read"]
    if closing:
        lines.append(f"To close them: close_chats with chat_ids={json.dumps(closing)} "
                     "(it asks the user once, where this client lets them be asked).")  # fmt: skip
    if reading:
        lines.append(f"To mark them read: mark_chats_read with chats={json.dumps(reading)}.")
    return "\n".join(lines + end), answer


def policy_plan(request: Request, response: Any) -> Answer:
    chats = [PolicyChat(**c) for c in response["chats"]]
    counts = {k: response[k] for k in ("policy", "judged", "listed", "planned")}
    kept_out = response["excluded"]
    answer = PolicyPlan(**counts, over_limit=response["over_limit"] or None, chats=chats,
                        limit_reached=response["limit_reached"], excluded=kept_out["counts"] or None,
                        unused_exclusions=kept_out["unused"] or None)  # fmt: skip
    end = _walk_end(answer, response, "preview_policy")
    so_far = "" if answer.complete else " so far (NOT complete: see the end)"
    lines = [f"{answer.planned} acts planned{so_far} by {answer.policy} (act · chat id · name · why):"]
    lines += [f"- {c.tool} · {c.chat_id} · {_q(c.name)} · {c.reason}" for c in chats if c.tool]
    if answer.limit_reached:
        lines.append(f"That is the run's limit (max_acts), reached after judging {answer.judged} chats: these are "
                     "all the acts a run would do now (complete); later chats wait for later runs.")  # fmt: skip
    elif answer.complete:
        lines.append(f"Every chat judged ({answer.judged} in this answer): this is all a run would do now (complete).")
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
