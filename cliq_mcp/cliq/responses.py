"""Cliq's answers as Zoho's document describes them: one pydantic model per answer a tool reads.

Nothing in the document's chat object is required, so nothing but a chat's id is required here: a field Cliq
left out is None (not told), never a default such as 0 or "no messages". A list entry without a chat id is
set aside as unreadable (its position kept) instead of failing the page. A field of the wrong type is a
``WrongShape`` error naming the field path (never its value): nothing is filled in from the request in its
place. Whoever needs a field decides what its absence means (summaries show it as unknown; walks read the
chat alone).

    answer                      model
    GET /chats, /chats/search   CliqChatList         {chats: [ChatObject], next_token?}
    GET /chats/{id}             ChatDetails      {type, data: ChatObject}
    POST /chats, .../forks      ChatEnvelope     {type, data: ChatObject}
    PUT /chats read_status      ReadStatus       {type, data: {success: [id], failure: [id | {chat_id, …}]}}
    PUT /chats/{id} title       TitleChanged     {type, data: {title, chat_id}}
    POST/DELETE .../members     MembersAdded / MembersRemoved {type, data: {chat_id, added|removed_user_ids}}
    GET .../members             MemberList       {members: [{user_id, email_id?, name?}]}
    GET /api/v2/users           UserList         {data: [{id | user_id, name?, email_id?}], next_token?}
    every 204 operation         no_body()        no body (or a body that is not one of Cliq's error shapes)
"""

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from cliq_mcp.core.errors import ServerError

PROBLEMS_SHOWN = 3


class WrongShape(ServerError):
    """Cliq answered with a success status, but not in the documented shape."""


def _id(value: Any) -> Any:
    # The notes: ids are strings. A JSON number is taken as the same id (Python reads it exactly);
    # anything else (null, bool, object) is left for validation to refuse.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_id)]


class CliqAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)  # built on first use


class Creator(CliqAnswer):
    id: Id | None = None
    name: str | None = None


class LastMessageInfo(CliqAnswer):
    """A chat's last message in either of the document's shapes, read as one: the examples'
    ``{message_id, sender, time, content: {text}, type}`` and the LastMessageInfo schema's ``{sender_id,
    message_type, text, time, sender_name}`` (which has no message id)."""

    message_id: Id | None = None
    sender: Id | None = None
    sender_name: str | None = None
    time: str | None = None
    text: str | None = None  # assumption: a non-text message (a file, a card) may carry no text
    type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _either_shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        read = dict(value)
        content = read.pop("content", None)
        if isinstance(content, dict) and "text" in content and "text" not in read:
            read["text"] = content["text"]
        elif content is not None and not isinstance(content, dict):
            read["text"] = content  # a content that is not an object: refused below as text of the wrong type
        for schema_name, name in (("sender_id", "sender"), ("message_type", "type")):
            if schema_name in read and name not in read:
                read[name] = read.pop(schema_name)
        return read


class ChatObject(CliqAnswer):
    """A chat as list, search, get, create and fork show it. Only its id is required (the document requires
    nothing; without an id a chat cannot be named at all)."""

    chat_id: Id
    name: str | None = None
    chat_type: str | None = None
    participant_count: int | None = None
    created_time: str | None = None
    last_modified_time: str | None = None
    # create's answer puts pinned under user_membership; muted is not in the document's chat object (only the
    # list's muted filter tells it) but is read if Cliq sends it.
    pinned: bool | None = None
    muted: bool | None = None
    creator: Creator | None = None
    last_message_info: LastMessageInfo | None = None
    unread_message_count: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _membership(cls, value: Any) -> Any:
        membership = value.get("user_membership") if isinstance(value, dict) else None
        if isinstance(membership, dict) and "pinned" not in value and "pinned" in membership:
            return {**value, "pinned": membership["pinned"]}
        return value


class CliqChatList(CliqAnswer):
    chats: list[ChatObject]
    unreadable: list[int] = Field(default_factory=list)  # 1-based positions of entries without a chat id
    next_token: str | None = None  # Zoho's pagination page: absent on the last page (not in the OpenAPI document)

    @model_validator(mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        """Entries without a chat id are set aside (their positions kept): the rest of the page still answers."""
        return _set_aside(value, "chats", "chat_id")


class ChatEnvelope(CliqAnswer):
    type: str | None = None
    data: ChatObject


class ChatDetails(CliqAnswer):
    type: str | None = None
    data: ChatObject  # the get example carries unread_message_count; the document does not promise it


class ReadFailure(CliqAnswer):
    """A chat Cliq could not mark read. The notes show ids only; an object form is assumed to name the chat
    as ``chat_id`` and may say why in ``message`` or ``code``."""

    chat_id: Id
    code: str | None = None
    message: str | None = None


def _failure(value: Any) -> Any:
    return {"chat_id": _id(value)} if isinstance(value, str | int) and not isinstance(value, bool) else value


class ReadStatusData(CliqAnswer):
    success: list[Id]
    failure: list[Annotated[ReadFailure, BeforeValidator(_failure)]]


class ReadStatus(CliqAnswer):
    type: str | None = None
    data: ReadStatusData


class TitleData(CliqAnswer):
    title: str
    chat_id: Id


class TitleChanged(CliqAnswer):
    type: str | None = None
    data: TitleData


class AddedData(CliqAnswer):
    chat_id: Id
    added_user_ids: list[Id]


class MembersAdded(CliqAnswer):
    type: str | None = None
    data: AddedData


class RemovedData(CliqAnswer):
    chat_id: Id
    removed_user_ids: list[Id]


class MembersRemoved(CliqAnswer):
    type: str | None = None
    data: RemovedData


class CliqMember(CliqAnswer):
    user_id: Id
    email_id: str | None = None
    name: str | None = None


class MemberList(CliqAnswer):
    members: list[CliqMember]
    unreadable: list[int] = Field(default_factory=list)  # 1-based positions of members without a user id

    @model_validator(mode="before")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        """Members without a user id (the document requires none) are set aside: the others still answer."""
        return _set_aside(value, "members", "user_id")


def _set_aside(value: Any, entries: str, ident: str) -> Any:
    """``value`` with the entries of its list ``entries`` that lack an ``ident`` moved out, by their 1-based
    positions, into ``unreadable``: a list answer is read for what it names, and says what it could not."""
    if not isinstance(value, dict) or not isinstance(value.get(entries), list):
        return value
    kept, unreadable = [], []
    for position, entry in enumerate(value[entries], start=1):
        found = entry.get(ident) if isinstance(entry, dict) else None
        if (isinstance(found, str) and found) or (isinstance(found, int) and not isinstance(found, bool)):
            kept.append(entry)
        else:
            unreadable.append(position)
    return {**value, entries: kept, "unreadable": unreadable}


def _user(value: Any) -> Any:
    """The v2 Users API's person, in whatever of the names client libraries read (the notes hold no example:
    assumption): the id as ``id``, ``user_id`` or ``zuid``; the name as ``name``, ``display_name`` or first and
    last name; the email as ``email_id`` or ``email``."""
    if not isinstance(value, dict):
        return value
    whole = " ".join(str(value[k]) for k in ("first_name", "last_name") if isinstance(value.get(k), str) and value[k])
    found = (value.get(k) for k in ("id", "user_id", "zuid") if value.get(k) is not None)
    return {
        "user_id": next(found, None),
        "name": value.get("name") or value.get("display_name") or whole or None,
        "email_id": value.get("email_id") or value.get("email"),
    }


class UserObject(CliqAnswer):
    user_id: Id
    name: str | None = None
    email_id: str | None = None


class UserList(CliqAnswer):
    data: list[Annotated[UserObject, BeforeValidator(_user)]]
    next_token: str | None = None


A = TypeVar("A", bound=CliqAnswer)


def _path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("function-"):  # pydantic's tag for a validator step, not a field
            path += f".{part}" if path else part
    return path


def _hint(write: bool) -> str:
    if write:
        return "Cliq said success, so it was probably applied: check (e.g. with get_chat) before repeating it."
    return "Nothing was assumed in its place; if this persists, Cliq's API may have changed."


def read_answer(model: type[A], answer: Any, operation: str, *, write: bool = False) -> "A":
    """``answer`` read as ``model``, or ``WrongShape`` naming the missing or wrong fields (not their values)."""
    try:
        return model.model_validate(answer)
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            path = _path(error["loc"])
            if not path:
                problem = "is not a JSON object"
            elif error["type"] == "missing":
                problem = f"is missing {path}"
            else:
                problem = f"has {path} of the wrong type"
            if problem not in problems:
                problems.append(problem)
        more = len(problems) - PROBLEMS_SHOWN
        said = "; ".join(problems[:PROBLEMS_SHOWN]) + (f" (and {more} more)" if more > 0 else "")
        raise WrongShape(f"Cliq's answer to {operation} {said}.", _hint(write), status=200) from None


def no_body(answer: Any, operation: str) -> None:
    """A success that has no body (HTTP 204). A body is tolerated unless it is one of Cliq's error shapes:
    then the operation did not succeed, whatever the status said."""
    if isinstance(answer, dict) and ("error" in answer or "code" in answer):
        field = "error" if "error" in answer else "code"
        raise WrongShape(
            f"Cliq's answer to {operation} carries an error ({field}) instead of no body.",
            "It was probably not applied; check (e.g. with get_chat) before repeating it.",
            status=200,
        )
