"""What a tool returns to programs: the structured content, one pydantic model per kind of answer. Every string
goes through ``core.text.clean`` with the caps of its kind on the way in, so the structured content is exactly as
clean and bounded as the text the model reads, which is built from the same model."""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from cliq_mcp.core.errors import CliqError
from cliq_mcp.core.text import (
    EMAIL_LIMIT,
    ID_LIMIT,
    KIND_LIMIT,
    MESSAGE_LIMIT,
    NAME_LIMIT,
    REASON_LIMIT,
    TITLE_LIMIT,
    TOKEN_LIMIT,
    clean,
    utc_iso,
)


class Output(BaseModel):
    """Structured content: a field that is None is left out, except those a class names in ``unknown_is_null``:
    there None means Cliq did not tell, and programs see it as null (never as absent, never as 0)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at start-up
    unknown_is_null: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        # No return annotation: the output schema stays the model's own.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k in self.unknown_is_null}


def _cleaned(limit: int) -> "BeforeValidator":
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
    message_id: Ident | None = None  # the document's schema shape of a last message has none
    sender: Ident | None = None
    sender_name: Name | None = None  # when the chat's own answer tells it (its creator, a direct chat's name)
    time: Time = None
    text: Message | None = None


class Chat(Output):
    """A chat as Cliq told it. Every field but the id may be unknown (the document requires none); the unread
    count is null when unknown."""

    unknown_is_null: ClassVar[frozenset[str]] = frozenset({"unread"})
    chat_id: Ident
    name: Name | None = None
    chat_type: Kind | None = None
    last_activity: Time = None
    participants: int | None = None
    unread: Annotated[int | None, WithJsonSchema({"type": ["integer", "null"]})] = None
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
    unread_unknown: int | None = None  # chats shown whose unread count Cliq's list left out
    unreadable: list[int] | None = None  # positions of entries in Cliq's answer without a chat id: not shown
    filtered_here: str | None = None  # a filter Cliq's list lacks, applied by this server to the page


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
Outcome = Literal[
    "done", "failed", "may_have_been_applied", "not_sent", "unconfirmed", "already_closed", "not_found", "left_alone"
]
SETTLED = frozenset({"done", "already_closed"})  # the chat is as asked


class Item(Output):
    chat_id: Ident
    outcome: Outcome
    reason: Reason | None = None


class Bulk(Written, Completeness):
    items: list[Item] | None = None
    # clear_unread_counts with all: counts of the chats listed (items then holds only those not done)
    listed: int | None = None
    cleared: int | None = None  # chats in clear requests Cliq accepted
    had_unread: int | None = None  # Cliq's list said they had unread messages
    unread_unknown: int | None = None  # Cliq's list gave no count (sent too)
    already_read: int | None = None  # Cliq's list said they had none
    filtered_here: str | None = None  # a chat type Cliq's list cannot filter, kept by this server
    plan: Ident | None = None  # the plan this batch came from (plan_tidy's handle)
    left_in_plan: int | None = None  # chats the plan still holds after this call


class Done(Written):
    chat_id: Ident | None = None
    done: str | None = None
    title: Annotated[str, _cleaned(TITLE_LIMIT)] | None = None
    user_ids: list[Ident] | None = None


class Action(Output):
    unknown_is_null: ClassVar[frozenset[str]] = frozenset({"unread"})
    tool: str
    chat_id: Ident
    name: Name
    chat_type: Kind | None = None
    reason: Reason
    arguments: dict[str, Any]
    last_activity: Time = None
    unread: Annotated[int | None, WithJsonSchema({"type": ["integer", "null"]})] = None  # null: Cliq did not say
    pinned: bool | None = None
    muted: bool | None = None


class Plan(Completeness):
    plan: Ident | None = None  # the handle close_chats / clear_unread_counts take instead of these chats' ids
    proposed: dict[str, int] | None = None  # tool -> chats the plan proposes for it (the whole walk so far)
    scanned: int  # chats checked by this call
    checked: int  # chats checked by this walk so far (this call and the earlier ones it continues)
    listed: int  # chats listed by this walk so far; checked == listed when complete
    actions: list[Action]
    next_token: Cursor | None = None  # plan_tidy's own cursor: call again with it for the rest
    pinned_skipped: int | None = None  # pinned chats that met a closing criterion (include_pinned to propose)
    # Chats not judged because even their own answer left out what a criterion needs ("id (Cliq did not tell …)").
    unjudged: list[Reason] | None = None


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
    not_judged: int | None = None  # chats the policy could not be applied to (left alone: every_chat names them)
    limit_reached: bool | None = None  # the run's limit is planned: the chats after the last act were not judged
    excluded: dict[str, int] | None = None  # chats the [exclude] table kept out, by reason
    unused_exclusions: list[Reason] | None = None  # exclude entries that kept out no chat judged
    chats: list[PolicyChat]  # the acts planned (every chat judged, with every_chat)


class Member(Output):
    user_id: Ident
    name: Name | None = None
    email: Email | None = None


class Person(Output):
    user_id: Ident | None = None  # None: a direct chat with them is known, their id is not
    name: Name | None = None
    email: Email | None = None
    chat_id: Ident | None = None  # your direct chat with them (told when your chats were searched)
    exact: bool | None = None  # their name is exactly what was asked for


class People(Output):
    people: list[Person]
    source: Reason
    complete: bool = True  # False: as many as the limit: there may be more
    why: Reason | None = None


class Members(Output):
    chat_id: Ident
    members: list[Member]
    more: int | None = None  # members Cliq listed beyond those shown
    unreadable: list[int] | None = None  # positions in Cliq's list of members it gave no user id


class NothingDone(CliqError):
    """A batch in which no chat was done: an error result that still lists what became of each chat."""
