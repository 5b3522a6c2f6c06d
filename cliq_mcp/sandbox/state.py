"""The simulated workspace: users, chats with their members and messages, tokens, the throttle."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .throttle import Throttle
from .tokens import ALL_SCOPES, USERS_READ, TokenStore

ME = "70027934"  # Tim Harrison, the user every token belongs to


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    email_id: str


@dataclass(frozen=True)
class Message:
    message_id: str
    sender: str
    time_ms: int
    text: str
    type: str = "text"


@dataclass
class Chat:
    chat_id: str
    name: str
    chat_type: str
    creator_id: str
    created_ms: int
    modified_ms: int
    members: list[str]
    messages: list[Message] = field(default_factory=list)
    tz_minutes: int = 0  # offset the times are rendered in (0 renders "...Z")
    pinned: bool = False
    muted: bool = False
    closed: bool = False
    draft: bool = False
    open_channel: bool = False  # an org channel that non-members can see (the `joined=false` list)
    unread: int = 0
    cleared: int = 0  # messages before this index were cleared for the caller (clear_local_history)
    history_enabled: bool = True
    usage: int = 0  # how often the caller used the chat (search sort_by=usage)
    parent_chat_id: str | None = None
    last_activity: str | None = None
    guests: bool = False  # someone from outside the organisation is in it (the list's type=guests)
    # What this chat's entry in a list or search answer carries (unread count, last message); None: decided
    # by the workspace's ``lists`` setting (render.listed).
    list_shows: tuple[bool, bool] | None = None
    from_examples: bool = False  # one of the seed's chats: its last message in the examples' shape, always

    @property
    def visible_messages(self) -> list[Message]:
        return self.messages[self.cleared :]

    def message_index(self, message_id: str) -> int | None:
        """Index among the visible messages, or None when the caller cannot see such a message."""
        for index, message in enumerate(self.visible_messages):
            if message.message_id == message_id:
                return index
        return None


class WorkspaceState:
    """All mutable state of the simulated Cliq; deterministic for a given seed and request sequence.
    Empty: ``workspace.Workspace`` is this with the seed's chats in it."""

    def __init__(
        self,
        *,
        seed: int = 7,
        rate_limits: bool = True,
        clock: Callable[[], float] = time.time,
        access_tokens: Mapping[str, frozenset[str]] | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        refresh_token: str = "sandbox-refresh",
        throttle_style: Literal["429", "400"] = "429",
        lists: Literal["document", "full"] = "document",
    ) -> None:
        self.me = ME
        # Zoho's document: nothing in a chat is required; its list example shows one chat with a last message
        # and one without, neither with an unread count (get shows the count). "document": list and search
        # entries leave out the unread count for about half the chats and the last message for about a third,
        # and a quarter of last messages come in the schema's shape (no message id) instead of the examples'
        # (render.listed). "full": every entry carries both, in the examples' shape.
        self.lists: Literal["document", "full"] = lists
        self.clock = clock
        self.rate_limits = rate_limits
        self.throttle_style: Literal["429", "400"] = throttle_style
        # assumption: no participant limit is documented; 1000 per group chat or channel.
        self.participant_limit = 1000
        self.users: dict[str, User] = {}
        self.chats: dict[str, Chat] = {}
        self.throttle = Throttle(clock)
        self.rng = random.Random(seed)
        self._ids = random.Random(seed * 7919 + 1)
        self.tokens = TokenStore(
            clock=clock,
            rng=random.Random(seed * 7919 + 2),
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            # The default token may also use the v2 Users API; pass access_tokens (or sign in, which grants
            # the chat scopes only) for a token that may not, so people are found through chats instead.
            access_tokens={"sandbox-token": ALL_SCOPES | {USERS_READ}} if access_tokens is None else access_tokens,
        )

    # tokens -----------------------------------------------------------------------------------------
    def issue_auth_code(self, scopes: frozenset[str] = ALL_SCOPES, valid_for: float = 180.0) -> str:
        return self.tokens.issue_auth_code(scopes, valid_for)

    def expire_access_token(self, token: str) -> None:
        self.tokens.expire(token)

    # chats ------------------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def is_member(self, chat: Chat) -> bool:
        return self.me in chat.members

    def is_visible(self, chat: Chat) -> bool:
        return self.is_member(chat) or (chat.chat_type == "channel" and chat.open_channel)

    def visible(self, chat_id: str) -> Chat | None:
        chat = self.chats.get(chat_id)
        return chat if chat is not None and self.is_visible(chat) else None

    def my_chats(self, *, closed: bool = False) -> list[Chat]:
        """The caller's chats as ``GET /chats`` orders them (open ones, or only closed ones)."""
        mine = [c for c in self.chats.values() if self.is_member(c) and c.closed == closed]
        return sort_recent(mine)

    def direct_chat_with(self, user_id: str) -> Chat | None:
        for chat in self.chats.values():
            if chat.chat_type == "direct_message" and sorted(chat.members) == sorted({self.me, user_id}):
                return chat
        return None

    def add_chat(self, chat: Chat) -> Chat:
        if chat.chat_id in self.chats:
            raise ValueError(f"duplicate chat id {chat.chat_id}")
        self.chats[chat.chat_id] = chat
        return chat

    def new_chat_id(self) -> str:
        while True:
            chat_id = str(self._ids.randrange(10**18, 10**19))
            if chat_id not in self.chats:
                return chat_id

    def new_message_id(self, time_ms: int) -> str:
        return f"{time_ms}_{self._ids.randrange(10**10, 10**11)}"

    def user_name(self, user_id: str) -> str:
        user = self.users.get(user_id)
        return user.name if user is not None else user_id


def sort_recent(chats: list[Chat]) -> list[Chat]:
    return sorted(chats, key=lambda c: (c.modified_ms, c.chat_id), reverse=True)
