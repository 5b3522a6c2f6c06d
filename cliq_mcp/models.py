"""Tool input models: one per operation. The docstring is the tool's description, each field's
``description`` is what the model reads, and the constraints Cliq documents (enums, lengths, list
sizes, id formats, time-window order) are here so bad input is refused before any request.

Field names are the API's own; ``model_dump(mode="json")`` gives the wire values (CSV strings,
epoch milliseconds) that ``operations.Operation.wire`` places in the path, query or body.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_serializer,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from cliq_mcp.errors import InvalidArguments


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


def _not_before_1970(value: Any) -> Any:
    if isinstance(value, datetime) and _epoch_ms(value) < 0:
        raise ValueError("times before 1970 are not accepted")
    return value


def _epoch_ms(value: int | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1000)
    return value


# Chat ids are digit strings in every example; older ones look like CT_123_456. Anything else
# (slashes, dots, spaces) is refused here and percent-encoded again when placed in a path.
ChatId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
UserId = Annotated[str, Field(pattern=r"^[0-9]{1,24}$")]
MessageId = Annotated[str, Field(pattern=r"^[0-9]{1,24}(_[0-9]{1,24})?$", description="e.g. 1773813859592_51531973059")]
Title = Annotated[str, Field(min_length=1, max_length=255)]
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: later is no time Cliq can mean
Timestamp = Annotated[
    Annotated[int, Field(ge=0, le=LATEST_MS)] | datetime,
    AfterValidator(_not_before_1970),
    PlainSerializer(_epoch_ms, return_type=int),
    Field(description="epoch ms or ISO 8601"),
]


# A list that some clients send as a JSON string or "a,b"; the size limits go with each field.
Listish = BeforeValidator(_listish)
SearchType = Literal["direct_message", "group_chat", "channel", "thread"]


ChatType = Literal["direct_message", "group_chat", "channel", "bot", "thread"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Window(Request):
    modified_after: Timestamp | None = None
    modified_before: Timestamp | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        after, before = self.modified_after, self.modified_before
        if after is not None and before is not None and _epoch_ms(after) >= _epoch_ms(before):
            raise ValueError("modified_after must be earlier than modified_before")
        return self


class ListChats(_Window):
    """List your chats, newest activity first, a page at a time (pass next_token to continue)."""

    limit: int = Field(100, ge=1, le=100)  # Cliq's largest page: walking every chat takes the fewest requests
    next_token: str | None = Field(None, max_length=2000)
    name: str | None = Field(None, max_length=200, description="part of the chat name")
    pinned: bool | None = None
    muted: bool | None = None
    closed: bool | None = None
    drafts: bool | None = None
    joined: bool | None = None
    chat_ids: Annotated[list[ChatId], Listish, Field(min_length=1, max_length=100)] | None = None
    recipient: str | None = Field(None, max_length=200)
    type: ChatType | None = None


class SearchChats(_Window):
    """Search chats by title, type, recipient or time."""

    title: str | None = Field(None, max_length=200, description="part of the title")
    # Cliq's default is 500 results, far too many for an assistant: always send a limit.
    limit: int = Field(20, ge=1, le=500)
    chat_type: Annotated[list[SearchType], Listish, Field(min_length=1, max_length=4)] | None = None
    sort_by: Literal["usage", "recent"] | None = None
    recipient: str | None = Field(None, max_length=200)
    parent_chat_id: ChatId | None = None


class GetChat(Request):
    """Show one chat: name, type, members count, unread count, and optionally its last message."""

    chat_id: ChatId
    include: Literal["last_message_info"] | None = None


class CreateChat(Request):
    """Start a direct chat with user_id, or a group chat with user_ids (2-50 others) and a title."""

    chat_type: Literal["direct_message", "group_chat"]
    user_id: UserId | None = None
    user_ids: Annotated[list[UserId], Listish, Field(min_length=1, max_length=50)] | None = None
    title: Title | None = None

    @model_validator(mode="after")
    def _shape(self) -> CreateChat:
        if self.chat_type == "direct_message":
            if self.user_id is None or self.user_ids is not None or self.title is not None:
                raise ValueError("a direct_message takes user_id only")
        elif self.user_id is not None or self.title is None or not self.user_ids:
            raise ValueError("a group_chat takes user_ids and title, not user_id")
        elif len(self.user_ids) < 2:
            raise ValueError("a group_chat needs at least 3 members including you: give 2 or more user_ids")
        return self


class ReadMark(Request):
    chat_id: ChatId
    last_message_id: MessageId


class MarkChatsRead(Request):
    """Mark up to 100 chats read, each up to a given message id; clear_unread_counts needs no ids."""

    chats: list[ReadMark] = Field(min_length=1, max_length=100)


class ClearUnreadCounts(Request):
    """Mark chats read: chat_ids (up to 100), or all=true for every chat (2 requests per 100). Cheapest."""

    chat_ids: Annotated[list[ChatId], Listish, Field(min_length=1, max_length=100)] | None = None
    # Never sent to Cliq as such: with all, the tool pages list_chats itself and clears each page's unread chats.
    all: bool = Field(False, exclude=True, description="every chat matching type/name, instead of chat_ids")
    type: ChatType | None = Field(None, exclude=True, description="with all")
    name: str | None = Field(None, exclude=True, max_length=200, description="with all: part of the chat name")
    next_token: str | None = Field(None, exclude=True, max_length=2000, description="with all: continue a walk")

    @model_validator(mode="after")
    def _one_way(self) -> ClearUnreadCounts:
        if self.all == (self.chat_ids is not None):
            raise ValueError("give chat_ids, or all=true, not both")
        if not self.all and (self.type or self.name or self.next_token):
            raise ValueError("type, name and next_token go with all=true")
        return self


class RenameChat(Request):
    """Rename a direct or group chat (not a channel)."""

    chat_id: ChatId
    title: Title


class SetChatHistory(Request):
    """Turn a chat's message history on or off."""

    chat_id: ChatId
    history_status: Literal["enabled", "disabled"]


class MarkChatRead(Request):
    """Mark one chat read up to a message (later ones stay unread)."""

    chat_id: ChatId
    last_message_id: MessageId


class MarkChatUnread(Request):
    """Mark one chat as unread from a message."""

    chat_id: ChatId
    message_id: MessageId


class AddChatMembers(Request):
    """Add up to 100 users to a group chat or channel."""

    chat_id: ChatId
    user_ids: Annotated[list[UserId], Listish, Field(min_length=1, max_length=100)]


class ForkChat(Request):
    """Fork a chat from a message into a new group chat."""

    chat_id: ChatId
    message_id: MessageId
    title: Title
    user_ids: Annotated[list[UserId], Listish, Field(min_length=1, max_length=100)] | None = None
    include_participants: bool = Field(False, description="copy the members (user_ids then ignored)")

    @field_serializer("user_ids")
    def _csv(self, value: list[str] | None) -> str | None:
        # Cliq takes the fork's user_ids as one comma-separated string, not an array.
        return ",".join(value) if value is not None else None


class SendTypingActivity(Request):
    """Show a typing indicator (or text entered/cleared) in a chat."""

    chat_id: ChatId
    action: Literal["typing", "text_entered", "text_cleared"] = "typing"


class ChatTarget(Request):
    chat_id: ChatId


class ClearChatHistory(ChatTarget):
    """Clear a direct or group chat's history for you. Asks a person first."""


class CloseChat(ChatTarget):
    """Close a chat, hiding it from your recent chats. Asks a person first."""


class RemoveChatMembers(Request):
    """Remove up to 100 members from a group chat. Asks a person first."""

    chat_id: ChatId
    user_ids: Annotated[list[UserId], Listish, Field(min_length=1, max_length=100)]


class CloseChats(Request):
    """Close several chats at once, e.g. those plan_tidy proposes. Asks a person once, listing every chat."""

    chat_ids: Annotated[list[ChatId], Listish, Field(min_length=1, max_length=50)]


class PlanTidy(Request):
    """Find chats worth tidying (reads only) and propose actions; if not complete, call again with its next_token."""

    inactive_days: int | None = Field(None, ge=1, le=3650, description="no activity for this many days: close")
    unread_days: int | None = Field(None, ge=1, le=3650, description="unread, last message this old: mark read")
    empty: bool = Field(False, description="group chats with no messages or no one else: close")
    chat_type: ChatType | None = None
    name: str | None = Field(None, max_length=200, description="part of the chat name")
    max_chats: int = Field(50, ge=1, le=50, description="at most this many proposals")
    include_pinned: bool = Field(False, description="also propose closing pinned chats")
    next_token: str | None = Field(None, max_length=2000, description="from an incomplete plan: continue it")

    @model_validator(mode="after")
    def _some_criterion(self) -> PlanTidy:
        if self.inactive_days is None and self.unread_days is None and not self.empty:
            raise ValueError("give at least one of inactive_days, unread_days or empty")
        return self


class ListChatMembers(ChatTarget):
    """List a chat's members: name, email and user id."""


class LeaveChat(ChatTarget):
    """Leave a chat; you lose access to it. Asks a person first."""


class MuteChat(ChatTarget):
    """Mute a chat's notifications."""


class UnmuteChat(ChatTarget):
    """Unmute a chat's notifications."""


class WriteOptions(BaseModel):
    """Arguments every write tool has; never sent to Cliq."""

    dry_run: bool = Field(False, exclude=True, description="send nothing, show the request")


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


def parse(model: type[Request], arguments: dict[str, Any]) -> Request:
    """Validate tool arguments strictly, as the JSON they arrived as: no string or boolean becomes a number
    (``"5"``, ``true``), no number a boolean; times are epoch ms or ISO 8601 text. The error names each bad
    field without echoing its value."""
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
        problems = []
        errors = exc.errors(include_url=False, include_input=False)
        if any(error["type"] == "json_invalid" for error in errors):  # only the parser's depth limit gets here
            raise InvalidArguments(
                "Invalid arguments, nothing was sent: they are nested too deeply.",
                "Pass a flat JSON object of the tool's arguments.",
            ) from None
        given = exc.errors(include_url=False)  # with inputs: only their type is looked at, never echoed
        for error, seen in list(zip(errors, given, strict=True))[:5]:
            where = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if _number_for_an_id(error, seen.get("input")):
                message = ID_AS_STRING
            problems.append(f"{where}: {message}" if where else message)
        raise InvalidArguments(
            "Invalid arguments, nothing was sent: " + "; ".join(problems) + ".",
            "Fix them and call again.",
        ) from None


class CompactSchema(GenerateJsonSchema):
    """JSON Schema without what costs a model tokens and tells it nothing: no titles, and an optional
    field (``X | None = None``) is shown as plain ``X`` left out of ``required``. An explicit null is
    still accepted when validating."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        result = super().default_schema(schema)
        if result.get("default") is None:
            result.pop("default", None)
        return result

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        result = super().generate(schema, mode=mode)
        result.pop("title", None)
        for definition in result.get("$defs", {}).values():
            definition.pop("title", None)
        return result


def json_schema(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    schema = model.model_json_schema(schema_generator=CompactSchema, mode=mode)
    schema.pop("description", None)  # the docstring is already the tool's description
    return schema


def outline(schema: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """An output schema cut to what a program needs to read the answer: each field's JSON type, and the
    fields of nested objects and list items one level down; no descriptions, no shared definitions.
    Every tool's schema is sent with every tools/list, so the full nesting would cost more than it tells."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def shape(node: dict[str, Any], level: int) -> dict[str, Any]:
        node = resolve(node)
        kind = node.get("type")
        if kind == "array":
            return {"type": "array", "items": shape(node.get("items", {}), level)}
        if kind == "object" and "properties" in node:
            if level >= depth:
                return {"type": "object"}
            result: dict[str, Any] = {
                "type": "object",
                "properties": {k: shape(v, level + 1) for k, v in node["properties"].items()},
            }
            if node.get("required"):
                result["required"] = node["required"]
            return result
        return {"type": kind} if kind else {}

    return shape(schema, 0)
