"""Tool input models: one per operation. The docstring is the tool's description, each field's
``description`` is what the model reads, and the constraints Cliq documents (enums, lengths, list
sizes, id formats, time-window order) are here so bad input is refused before any request.

Field names are the API's own; ``model_dump(mode="json")`` gives the wire values (CSV strings,
epoch milliseconds) that ``operations.Operation.wire`` places in the path, query or body.
"""

import difflib
import json
import re
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    WithJsonSchema,
    field_serializer,
    model_serializer,
    model_validator,
)
from pydantic_core import to_jsonable_python

from cliq_mcp.core.errors import InvalidArguments
from cliq_mcp.housekeeping.policy import FORMAT


def _listish(value: Any) -> Any:
    """Some clients send a list as a JSON string or as "a,b": accept both."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return value
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


EMAIL = re.compile(r"^[^@\s,;<>]{1,64}@[^@\s,;<>]{1,190}\.[^@\s,;<>]{1,63}$")
USER_ID = re.compile(r"^[0-9]{1,24}$")
RELATIVE = re.compile(r"^(\d{1,6})\s*(m|min|h|d|w)$")
UNIT_MS = {"m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later is no time Cliq can mean
TIME_FORMS = "2025-01-31, 2025-01-31T09:00:00Z, epoch ms such as 1738314000000, or 90d / 12h / 30m / 2w ago"


def _epoch_ms(value: Any) -> int:
    """A time as people and models write it -> epoch milliseconds. Relative forms (``90d``) count back
    from now: the moment of validation, so a dry run shows the exact value that would be sent."""
    if isinstance(value, int) and not isinstance(value, bool):
        ms = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit() and len(text) <= 16:
            ms = int(text)
        elif match := RELATIVE.fullmatch(text):
            ms = int(time.time() * 1000) - int(match[1]) * UNIT_MS[match[2]]
        else:
            try:
                moment = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value.strip()))
            except ValueError:
                raise ValueError(f"is not a time; write {TIME_FORMS}") from None
            if moment.tzinfo is None:  # no offset given: UTC, as Cliq shows times
                moment = moment.replace(tzinfo=timezone.utc)
            ms = int(moment.timestamp() * 1000)
    else:
        raise ValueError(f"is not a time; write {TIME_FORMS}")
    if ms < 0:
        raise ValueError("times before 1970 are not accepted")
    if ms > LATEST_MS:
        raise ValueError(f"is too far in the future; write {TIME_FORMS}")
    return ms


def _chat_id(value: Any) -> Any:
    # Chat ids are digit strings in every example; older ones look like CT_123_456. Anything else ("-0", "1e3",
    # slashes, dots, spaces) is refused here, and an id is percent-encoded again when placed in a path.
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,30}|CT_[0-9]{1,30}(_[0-9]{1,30}){0,3}", value):
        raise ValueError("is not a chat id; chat ids look like 2890538000000012345 (from list_chats)")
    return value


def _message_id(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,24}(_[0-9]{1,24})?", value):
        raise ValueError("is not a message id; message ids look like 1773813859592_51531973059 (from get_chat)")
    return value


def _person(value: Any) -> Any:
    if isinstance(value, str) and not (USER_ID.fullmatch(value) or EMAIL.fullmatch(value)):
        raise ValueError(
            "is neither a user id (digits, e.g. 106324287) nor an email; "
            "find user ids with find_people or list_chat_members"
        )
    return value


# The formats are checked here, and said once in the server's instructions and in the error: the
# regular expressions are left out of the schema the model reads (CompactSchema drops ``pattern``).
ChatId = Annotated[str, AfterValidator(_chat_id)]
UserId = Annotated[str, AfterValidator(_person)]  # a user id, or an email resolved to one before sending
MessageId = Annotated[str, AfterValidator(_message_id)]
Title = Annotated[str, Field(min_length=1, max_length=255)]
Timestamp = Annotated[int, BeforeValidator(_epoch_ms), WithJsonSchema({"type": "string"})]


def is_email(value: str) -> bool:
    return "@" in value


# A list that some clients send as a JSON string or "a,b": accept both.
Listish = BeforeValidator(_listish)
# An id given twice names one chat or person: asked about once, sent once (order kept).
Unique = AfterValidator(lambda ids: list(dict.fromkeys(ids)))
SearchType = Literal["direct_message", "group_chat", "channel", "thread"]


ChatType = Literal["direct_message", "group_chat", "channel", "bot", "thread"]  # the chat object's chat_type
# What GET /chats takes as `type` for each chat type (Zoho's document); group chats it cannot filter.
LIST_TYPES = {"direct_message": "dm", "thread": "threads", "channel": "channel", "bot": "bot"}
CHAT_TYPE_HELP = "only this type (group_chat: Cliq's list cannot filter it, this server does)"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at start-up


CHAT_ID = "chat id"
PEOPLE = "user ids or emails"


class _Window(Request):
    modified_after: Timestamp | None = Field(None, description="active after this time")
    modified_before: Timestamp | None = Field(None, description="active before this time")

    @model_validator(mode="after")
    def _ordered(self) -> "_Window":
        after, before = self.modified_after, self.modified_before
        if after is not None and before is not None and after >= before:
            raise ValueError("modified_after must be earlier than modified_before")
        return self


class ListChats(_Window):
    """List your chats, newest first, a page at a time (next_token continues); unread=true: every unread chat."""

    # Cliq's largest page by default: walking every chat takes the fewest requests.
    limit: int = Field(100, ge=1, le=100, description="chats per page")
    next_token: str | None = Field(None, max_length=4000, description="from the previous page")
    name: str | None = Field(None, max_length=200, description="part of the chat name")
    pinned: bool | None = Field(None, description="true: only pinned; false: only unpinned")
    muted: bool | None = Field(None, description="true: only muted; false: only unmuted")
    closed: bool | None = Field(None, description="true: only closed chats (left out otherwise)")
    drafts: bool | None = Field(None, description="true: only chats with a draft")
    joined: bool | None = Field(None, description="false: channels you can join but have not")
    chat_ids: Annotated[list[ChatId], Listish, Unique, Field(min_length=1, max_length=100)] | None = Field(
        None, description="only these chat ids"
    )
    recipient: str | None = Field(None, max_length=200, description="chats with this person: user id or email")
    chat_type: ChatType | None = Field(None, description=CHAT_TYPE_HELP)
    # Never sent to Cliq: the tool walks every page itself and reads counts the list leaves out.
    unread: bool = Field(False, exclude=True, description="only unread chats, every page, true counts")

    @property
    def filtered_here(self) -> str | None:
        """A chat type Cliq's list cannot filter by: this server keeps only those chats of each page."""
        return self.chat_type if self.chat_type is not None and self.chat_type not in LIST_TYPES else None

    @model_serializer(mode="wrap")
    def _as_documented(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The chat type as GET /chats takes it (``type=dm``), or not at all (group chats)."""
        data: dict[str, Any] = handler(self)
        kind = data.pop("chat_type", None)
        if kind in LIST_TYPES:
            data["type"] = LIST_TYPES[kind]
        return data


class SearchChats(_Window):
    """Search chats by name, type, recipient or time."""

    name: str | None = Field(None, max_length=200, serialization_alias="title", description="part of the chat name")
    # Cliq's default is 500 results, far too many for an assistant: always send a limit.
    limit: int = Field(20, ge=1, le=500, description="most chats returned")
    chat_type: Annotated[list[SearchType], Listish, Field(min_length=1, max_length=4)] | None = Field(
        None, description="only these types"
    )
    sort_by: Literal["usage", "recent"] | None = Field(None, description="most used or most recent first")
    recipient: str | None = Field(None, max_length=200, description="chats with this person: user id or email")
    parent_chat_id: ChatId | None = Field(None, description="threads of this chat id")


class GetChat(Request):
    """Show one chat: name, type, members count, unread count, and optionally its last message."""

    chat_id: ChatId = Field(description=CHAT_ID)
    include: Literal["last_message_info"] | None = Field(None, description="add the last message")


class CreateChat(Request):
    """Start a direct chat with user_id, or a group chat with user_ids (2-50 others) and a title."""

    chat_type: Literal["direct_message", "group_chat"] = Field(description="direct or group chat")
    user_id: UserId | None = Field(None, description="direct chat: user id or email")
    user_ids: Annotated[list[UserId], Listish, Unique, Field(min_length=1, max_length=50)] | None = Field(
        None, description="group chat: " + PEOPLE
    )
    title: Title | None = Field(None, description="group chat: its name")

    @model_validator(mode="after")
    def _shape(self) -> "CreateChat":
        if self.chat_type == "direct_message":
            if self.user_id is None or self.user_ids is not None or self.title is not None:
                raise ValueError("a direct_message takes user_id only")
        elif self.user_id is not None or self.title is None or not self.user_ids:
            raise ValueError("a group_chat takes user_ids and title, not user_id")
        elif len(self.user_ids) < 2:
            raise ValueError("a group_chat needs at least 3 members including you: give 2 or more user_ids")
        return self


class ReadMark(Request):
    chat_id: ChatId = Field(description=CHAT_ID)
    message_id: MessageId = Field(serialization_alias="last_message_id", description="read up to this message id")


class MarkChatsRead(Request):
    """Mark up to 100 chats read, each up to a given message id; clear_unread_counts needs no ids."""

    chats: list[ReadMark] = Field(min_length=1, max_length=100, description="chats and the message ids to read to")


PlanHandle = Annotated[str, Field(pattern=r"^plan-[A-Za-z0-9_-]{6,32}$", description="a handle plan_tidy gave")]


class ByPlan(Request):
    """A batch of chats given by id, or by a plan_tidy plan (walks.by_plan fills in the ids)."""

    plan: PlanHandle | None = Field(None, exclude=True)


class ClearUnreadCounts(ByPlan):
    """Mark chats read: chat_ids (up to 100), all=true for every chat (2 requests per 100), or a plan. Cheapest."""

    chat_ids: Annotated[list[ChatId], Listish, Unique, Field(min_length=1, max_length=100)] | None = Field(
        None, description="chat ids, up to 100"
    )
    # Never sent to Cliq as such: with all, the tool pages list_chats itself and clears each page's unread chats.
    all: bool = Field(False, exclude=True, description="every chat matching chat_type/name, instead of chat_ids")
    chat_type: ChatType | None = Field(None, exclude=True, description="with all")
    name: str | None = Field(None, exclude=True, max_length=200, description="with all: part of the chat name")
    next_token: str | None = Field(None, exclude=True, max_length=4000, description="with all: continue a walk")
    plan: PlanHandle | None = Field(None, exclude=True, description="instead: a plan_tidy plan's chats to mark read")

    @model_validator(mode="after")
    def _one_way(self) -> "ClearUnreadCounts":
        if [self.all, self.chat_ids is not None, self.plan is not None].count(True) != 1:
            raise ValueError("give chat_ids, all=true, or a plan from plan_tidy (one of them)")
        if not self.all and (self.chat_type or self.name or self.next_token):
            raise ValueError("chat_type, name and next_token go with all=true")
        return self


class RenameChat(Request):
    """Rename a group chat (not a channel; a direct chat only where Cliq lets contacts be renamed)."""

    chat_id: ChatId = Field(description=CHAT_ID)
    title: Title = Field(description="the new name")


class SetChatHistory(Request):
    """Turn a chat's message history on or off."""

    chat_id: ChatId = Field(description=CHAT_ID)
    history_status: Literal["enabled", "disabled"] = Field(description="keep history or not")


class MarkChatRead(Request):
    """Mark one chat read up to a message (later ones stay unread; by default its latest)."""

    chat_id: ChatId = Field(description=CHAT_ID)
    message_id: MessageId | None = Field(
        None, serialization_alias="last_message_id", description="read up to this message id (default: the latest)"
    )


class MarkChatUnread(Request):
    """Mark one chat as unread from a message (by default its latest)."""

    chat_id: ChatId = Field(description=CHAT_ID)
    message_id: MessageId | None = Field(None, description="unread from this message id (default: the latest)")


class AddChatMembers(Request):
    """Add up to 100 people to a group chat or channel."""

    chat_id: ChatId = Field(description=CHAT_ID)
    user_ids: Annotated[list[UserId], Listish, Unique, Field(min_length=1, max_length=100)] = Field(description=PEOPLE)


class ForkChat(Request):
    """Fork a chat from a message (by default its latest) into a new group chat."""

    chat_id: ChatId = Field(description=CHAT_ID)
    message_id: MessageId | None = Field(None, description="the new chat starts here (default: the latest)")
    title: Title = Field(description="the new chat's name")
    user_ids: Annotated[list[UserId], Listish, Unique, Field(min_length=1, max_length=100)] | None = Field(
        None, description=PEOPLE
    )
    include_participants: bool = Field(False, description="copy the members (user_ids then ignored)")

    @field_serializer("user_ids")
    def _csv(self, value: list[str] | None) -> str | None:
        # Cliq takes the fork's user_ids as one comma-separated string, not an array.
        return ",".join(value) if value is not None else None


class SendTypingActivity(Request):
    """Show a typing indicator (or text entered/cleared) in a chat."""

    chat_id: ChatId = Field(description=CHAT_ID)
    action: Literal["typing", "text_entered", "text_cleared"] = Field("typing", description="what to show")


class ChatTarget(Request):
    chat_id: ChatId = Field(description=CHAT_ID)


class ClearChatHistory(ChatTarget):
    """Clear a direct or group chat's history for you. Asks a person first."""


class CloseChat(ChatTarget):
    """Close a chat, hiding it from your recent chats. Asks a person first."""


class RemoveChatMembers(Request):
    """Remove up to 100 members from a group chat. Asks a person first."""

    chat_id: ChatId = Field(description=CHAT_ID)
    user_ids: Annotated[list[UserId], Listish, Unique, Field(min_length=1, max_length=100)] = Field(description=PEOPLE)


class CloseChats(ByPlan):
    """Close several chats, e.g. a plan_tidy plan (50 a call). Asks a person once, listing every chat."""

    chat_ids: Annotated[list[ChatId], Listish, Unique, Field(min_length=1, max_length=50)] | None = Field(
        None, description="chat ids"
    )
    plan: PlanHandle | None = Field(None, exclude=True, description="instead: a plan_tidy plan's chats to close")

    @model_validator(mode="after")
    def _one_way(self) -> "CloseChats":
        if (self.plan is None) == (self.chat_ids is None):
            raise ValueError("give chat_ids, or a plan from plan_tidy (not both)")
        return self


class PlanTidy(Request):
    """Find chats worth tidying (reads only) and propose actions; if not complete, call again with its next_token."""

    inactive_days: int | None = Field(None, ge=1, le=3650, description="no activity for this many days: close")
    unread_days: int | None = Field(None, ge=1, le=3650, description="unread, no activity this long: mark read")
    empty: bool = Field(False, description="group chats with no one else, or never active since created: close")
    chat_type: ChatType | None = Field(None, description=CHAT_TYPE_HELP)
    name: str | None = Field(None, max_length=200, description="part of the chat name")
    max_chats: int = Field(500, ge=1, le=500, description="at most this many proposals")
    include_pinned: bool = Field(False, description="also propose closing pinned chats")
    next_token: str | None = Field(None, max_length=4000, description="from an incomplete plan: continue it")

    @model_validator(mode="after")
    def _some_criterion(self) -> "PlanTidy":
        if self.inactive_days is None and self.unread_days is None and not self.empty:
            raise ValueError("give at least one of inactive_days, unread_days or empty")
        return self


class PreviewPolicy(Request):
    """Show what a housekeeping policy (the TOML file `cliq-mcp tidy` runs) would do now, and why. Reads only."""

    policy: str = Field(min_length=1, max_length=20_000, description="the policy's TOML text. " + FORMAT)
    every_chat: bool = Field(False, description="also list each chat left alone, and why")
    next_token: str | None = Field(None, max_length=4000, description="from an incomplete preview: continue it")


class ListChatMembers(ChatTarget):
    """List a chat's members: name, email and user id."""


class LeaveChat(ChatTarget):
    """Leave a chat; you lose access to it. Asks a person first."""


class MuteChat(ChatTarget):
    """Mute a chat's notifications."""


class UnmuteChat(ChatTarget):
    """Unmute a chat's notifications."""


class FindPeople(Request):
    """Find people by name or email: user id, name and email (marked where the name is exact)."""

    query: str = Field(min_length=1, max_length=200, description="part of a name, or an email")
    limit: int = Field(10, ge=1, le=50, description="most people returned")


class WriteOptions(BaseModel):
    """Arguments every write tool has; never sent to Cliq."""

    dry_run: bool = Field(False, exclude=True, description="preview only, send nothing")


class ConfirmOptions(WriteOptions):
    """Arguments every destructive tool has; never sent to Cliq."""

    confirmation_token: str | None = Field(
        None, exclude=True, max_length=300, description="from the preview, once the user agreed"
    )


def with_options(model: type[Request], options: type[BaseModel]) -> type[Request]:
    """``model`` plus the guard's arguments, under the same name and description."""
    return type(model.__name__, (options, model), {"__doc__": model.__doc__, "__module__": model.__module__})


ID_AS_STRING = 'pass ids as strings, e.g. "2890538000000099999" (a JSON number loses digits)'


def _number_for_an_id(error: Any, value: Any) -> bool:
    """An id (chat, user, message: every field named *_id or *_ids) sent as a JSON number. Cliq's ids have
    19 digits, more than a double holds exactly, so a number may already have lost digits: it is refused
    with a message saying to quote it, never converted."""
    names = [part for part in error["loc"] if isinstance(part, str)]
    is_id = bool(names) and names[-1].endswith(("_id", "_ids"))
    return is_id and error["type"] == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool)


# An accepted value per argument, for error messages (kept out of the schema the model reads).
EXAMPLES = {
    "chat_id": "2890538000000012345",
    "parent_chat_id": "2890538000000012345",
    "chat_ids": '["2890538000000012345"]',
    "user_id": "106324287",
    "user_ids": '["106324287", "bob.carter@zylker.com"]',
    "message_id": "1773813859592_51531973059",
    "chats": '[{"chat_id": "2890538000000012345", "message_id": "1773813859592_51531973059"}]',
    "modified_after": '"90d"',
    "modified_before": '"2025-01-31"',
    "title": '"Q3 planning"',
    "name": '"planning"',
    "query": '"Alice" or "alice.johnson@zylker.com"',
    "limit": "20",
}
PLAIN = {
    "missing": "is required",
    "string_type": "must be text (a JSON string)",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
}


def _plain(error: Any) -> str:
    """One validation error in plain words: the argument, what is wrong, and an accepted example."""
    parts = [p for p in error["loc"] if isinstance(p, int) or re.fullmatch(r"[A-Za-z_]\w*", p)]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    field = next((p for p in reversed(parts) if isinstance(p, str)), "")
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        said = str(error["msg"]).removeprefix("Value error, ")
        return f"{where} {said}" if where else said
    if kind == "extra_forbidden":
        return f"{where or 'an argument'} is not an argument of this tool"
    if kind == "literal_error":
        return f"{where} must be one of {ctx.get('expected', '')}"
    if kind in PLAIN:
        said = PLAIN[kind]
    elif kind == "string_too_short":
        said = "must not be empty"
    elif kind == "string_too_long":
        said = f"must be at most {ctx.get('max_length')} characters"
    elif kind == "too_short":
        said = f"needs at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        said = f"takes at most {ctx.get('max_length')} items"
    elif kind == "greater_than_equal":
        said = f"must be at least {ctx.get('ge')}"
    elif kind == "less_than_equal":
        said = f"must be at most {ctx.get('le')}"
    else:
        said = "is not valid"
    example = EXAMPLES.get(field)
    return f"{where} {said}" + (f", e.g. {example}" if example else "")


# Names other tools or APIs use for an argument: the name these tools use.
SAME_AS = {"type": "chat_type", "chat_types": "chat_type", "chat": "chat_id", "id": "chat_id", "title": "name",
           "last_message_id": "message_id", "name": "query", "email": "user_ids", "emails": "user_ids"}  # fmt: skip


def _meant(error: Any, model: type[BaseModel]) -> str:
    """For an argument the tool does not have: the one it has under that meaning, or a close spelling."""
    if error["type"] != "extra_forbidden" or len(error["loc"]) != 1 or not isinstance(error["loc"][0], str):
        return ""
    name, fields = error["loc"][0], list(model.model_fields)
    close = [SAME_AS[name]] if SAME_AS.get(name) in fields else difflib.get_close_matches(name, fields, 1, 0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""


def given_arguments(request: Request, *leaving_out: str) -> dict[str, Any]:
    """The arguments this call was given (as validated), JSON-ready, but ``leaving_out``: what a continuation
    repeats, with the cursor or the new limit added to them."""
    given = {name: getattr(request, name) for name in request.model_fields_set if name not in leaving_out}
    return to_jsonable_python(given)  # type: ignore[no-any-return]


def parse_arguments(model: type[Request], arguments: dict[str, Any]) -> "Request":
    """Validate tool arguments strictly, as the JSON they arrived as: no string or boolean becomes a number
    (``"5"``, ``true``), no number a boolean; times are turned into epoch ms here. The error names each bad
    argument in plain words with an accepted example, without echoing its value."""
    try:
        text = json.dumps(arguments, allow_nan=False)
    except (RecursionError, ValueError, TypeError):
        raise InvalidArguments(
            "Invalid arguments, nothing was sent: they are nested too deeply or are not plain JSON.",
            "Pass a flat JSON object of the tool's arguments.",
        ) from None
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        invalid = [str(error.get("msg", "")) for error in errors if error["type"] == "json_invalid"]
        if invalid:  # the parser's depth limit, or text that is not Unicode (a lone surrogate)
            deep = any("recursion" in msg.lower() or "depth" in msg.lower() for msg in invalid)
            raise InvalidArguments(
                "Invalid arguments, nothing was sent: "
                + ("they are nested too deeply." if deep else "a text holds characters that are not valid Unicode."),
                "Pass a flat JSON object of the tool's arguments, as plain text.",
            ) from None
        given = exc.errors(include_url=False)  # with inputs: only their type is looked at, never echoed
        problems = list(
            dict.fromkeys(
                f"{'.'.join(str(p) for p in error['loc'])}: {ID_AS_STRING}"
                if _number_for_an_id(error, seen.get("input"))
                else _plain(error) + _meant(error, model)
                for error, seen in zip(errors, given, strict=True)
            )
        )[:5]
        raise InvalidArguments(
            "Invalid arguments, nothing was sent: " + "; ".join(problems) + ".",
            "Fix them and call again.",
        ) from None
