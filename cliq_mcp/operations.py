"""The catalogue: every Cliq chat operation, one row each. A row names the tool, its input model,
the HTTP method and path, the fixed part of the request, the effect (which drives annotations,
tool selection and the guard), Cliq's documented rate limit, and the summary of the answer.

Adding an operation is one model (models.py), one summary (summaries.py) and one row here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from cliq_mcp import models as m
from cliq_mcp import summaries as s
from cliq_mcp.client import CliqClient, RateLimit, Wire, path_segment
from cliq_mcp.errors import ConfigurationError
from cliq_mcp.housekeeping import Progress, apply_each, plan_tidy
from cliq_mcp.limits import CREATE, DELETE, GET_CHAT, LIST_CHATS, PER_CHAT_PUT, READ, UPDATE

Runner = Callable[["Operation", m.Request, CliqClient, Progress], Awaitable[Any]]


class Effect(Enum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    model: type[m.Request]
    method: str
    path: str  # "{field}" placeholders are filled from the request, percent-encoded
    effect: Effect
    summary: s.Summary
    output: type[s.Output]
    rate: RateLimit
    fixed: Mapping[str, Any] = field(default_factory=dict)  # constant query (GET/DELETE) or body fields
    idempotent: bool = False
    confirm: str = ""  # destructive only: what a person is asked; {chat}, {chats} and {people} are filled in
    each: str = ""  # a list field: the request is sent once per chat id in it (as {chat_id} of the path)
    run: Runner | None = None  # for operations that take more than one request; default: send wire()

    @cached_property
    def arguments(self) -> type[m.Request]:
        """The tool's input model: the request model plus the guard's arguments for writes."""
        if self.effect is Effect.READ:
            return self.model
        return m.with_options(self.model, m.ConfirmOptions if self.effect is Effect.DESTRUCTIVE else m.WriteOptions)

    def wire(self, request: m.Request) -> Wire:
        """The exact HTTP request for validated input: path fields, then query or JSON body."""
        values = request.model_dump(mode="json", exclude_none=True)
        path = re.sub(r"\{(\w+)\}", lambda match: path_segment(str(values.pop(match[1]))), self.path)
        if self.method in ("GET", "DELETE"):
            params = {**self.fixed, **{k: _query_value(v) for k, v in values.items()}}
            return Wire(self.method, path, params=params)
        body = {**self.fixed, **values}
        return Wire(self.method, path, json=body or None)

    def wires(self, request: m.Request) -> list[Wire]:
        """Every request the operation sends (several for an ``each`` operation)."""
        if not self.each:
            return [self.wire(request)]
        chat_ids: list[str] = getattr(request, self.each)
        body = dict(self.fixed) or None
        return [Wire(self.method, self.path.format(chat_id=path_segment(c)), json=body) for c in chat_ids]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _put(name: str, title: str, model: type[m.Request], operation: str, summary: s.Summary, **kw: Any) -> Operation:
    """One of the many ``PUT /chats/{chat_id}`` operations: the body carries exactly one ``operation``."""
    return Operation(
        name, title, model, "PUT", "/chats/{chat_id}", kw.pop("effect", Effect.WRITE), summary,
        kw.pop("output", s.Done), kw.pop("rate", PER_CHAT_PUT), {"operation": operation}, **kw,
    )  # fmt: skip


CATALOGUE: tuple[Operation, ...] = (
    Operation("list_chats", "List chats", m.ListChats, "GET", "/chats", Effect.READ,
              s.chat_list, s.ChatList, LIST_CHATS, idempotent=True),
    Operation("search_chats", "Search chats", m.SearchChats, "GET", "/chats/search", Effect.READ,
              s.chat_list, s.ChatList, RateLimit(50, "10 minutes", READ), idempotent=True),
    Operation("get_chat", "Get a chat", m.GetChat, "GET", "/chats/{chat_id}", Effect.READ,
              s.one_chat, s.OneChat, GET_CHAT, idempotent=True),
    Operation("list_chat_members", "List chat members", m.ListChatMembers, "GET", "/chats/{chat_id}/members",
              Effect.READ, s.members, s.Members, RateLimit(20, "10 minutes", READ),
              {"fields": "user_id,email_id,name"}, idempotent=True),
    Operation("create_chat", "Create a chat", m.CreateChat, "POST", "/chats", Effect.WRITE,
              s.created_chat, s.ChatWritten, RateLimit(30, "", CREATE)),
    Operation("mark_chats_read", "Mark chats read", m.MarkChatsRead, "PUT", "/chats", Effect.WRITE,
              s.read_status, s.Bulk, RateLimit(60, "5 minutes", UPDATE),
              {"operation": "read_status_update", "read_status": "read"}, idempotent=True),
    Operation("clear_unread_counts", "Clear unread counts", m.ClearUnreadCounts, "PUT", "/chats", Effect.WRITE,
              s.cleared_unread, s.Bulk, RateLimit(60, "5 minutes", UPDATE),
              {"operation": "clear_unread"}, idempotent=True),
    _put("rename_chat", "Rename a chat", m.RenameChat, "update_title", s.renamed,
         rate=RateLimit(60, "10 minutes", UPDATE), idempotent=True),
    _put("set_chat_history", "Turn chat history on/off", m.SetChatHistory, "update_history_status",
         s.done("history_set", "History of chat {chat_id} is now {history_status}"),
         rate=RateLimit(60, "10 minutes", UPDATE), idempotent=True),
    _put("mark_chat_read", "Mark a chat read", m.MarkChatRead, "mark_as_read",
         s.done("marked_read", "Marked chat {chat_id} read up to {last_message_id}"), idempotent=True),
    _put("mark_chat_unread", "Mark a chat unread", m.MarkChatUnread, "mark_as_unread",
         s.done("marked_unread", "Marked chat {chat_id} unread from {message_id}"), idempotent=True),
    Operation("add_chat_members", "Add chat members", m.AddChatMembers, "POST", "/chats/{chat_id}/members",
              Effect.WRITE, s.members_changed("Added", "added_user_ids"), s.Done,
              RateLimit(20, "10 minutes", UPDATE)),
    Operation("fork_chat", "Fork a chat", m.ForkChat, "POST", "/chats/{chat_id}/forks", Effect.WRITE,
              s.created_chat, s.ChatWritten, RateLimit(50, "10 minutes", CREATE)),
    Operation("send_typing_activity", "Send typing activity", m.SendTypingActivity, "POST",
              "/chats/{chat_id}/activities", Effect.WRITE,
              s.done("sent", "Sent {action} to chat {chat_id}"), s.Done, RateLimit(100, "50 minutes", UPDATE)),
    Operation("mute_chat", "Mute a chat", m.MuteChat, "POST", "/chats/{chat_id}/mute", Effect.WRITE,
              s.done("muted", "Muted chat {chat_id}"), s.Done, PER_CHAT_PUT, idempotent=True),
    Operation("unmute_chat", "Unmute a chat", m.UnmuteChat, "POST", "/chats/{chat_id}/unmute", Effect.WRITE,
              s.done("unmuted", "Unmuted chat {chat_id}"), s.Done, PER_CHAT_PUT, idempotent=True),
    _put("clear_chat_history", "Clear chat history", m.ClearChatHistory, "clear_local_history",
         s.done("history_cleared", "Cleared your history of chat {chat_id}"), effect=Effect.DESTRUCTIVE,
         idempotent=True, confirm="Clear your message history of {chat}? You will no longer see its past messages."),
    _put("close_chat", "Close a chat", m.CloseChat, "close_chat",
         s.done("closed", "Closed chat {chat_id}"), effect=Effect.DESTRUCTIVE, idempotent=True,
         confirm="Close {chat}? It will be hidden from your recent chats."),
    Operation("remove_chat_members", "Remove chat members", m.RemoveChatMembers, "DELETE",
              "/chats/{chat_id}/members", Effect.DESTRUCTIVE, s.members_changed("Removed", "removed_user_ids"),
              s.Done, RateLimit(20, "10 minutes", DELETE), idempotent=True,
              confirm="Remove {people} from {chat}? They lose access to the chat."),
    Operation("leave_chat", "Leave a chat", m.LeaveChat, "POST", "/chats/{chat_id}/leave", Effect.DESTRUCTIVE,
              s.done("left", "Left chat {chat_id}"), s.Done, PER_CHAT_PUT, idempotent=True,
              confirm="Leave {chat}? You lose access to it until someone adds you back."),
    Operation("plan_tidy", "Plan a tidy-up", m.PlanTidy, "GET", "/chats", Effect.READ, s.plan, s.Plan, LIST_CHATS,
              idempotent=True, run=plan_tidy),
    Operation("close_chats", "Close several chats", m.CloseChats, "PUT", "/chats/{chat_id}", Effect.DESTRUCTIVE,
              s.bulk, s.Bulk, PER_CHAT_PUT, {"operation": "close_chat"}, idempotent=True, each="chat_ids",
              run=apply_each, confirm="Close {chats}? They will be hidden from your recent chats."),
)  # fmt: skip

BY_NAME: dict[str, Operation] = {op.name: op for op in CATALOGUE}
TOOLSETS = {effect.value: {op.name for op in CATALOGUE if op.effect is effect} for effect in Effect}


def select(
    *, read_only: bool = False, tools: frozenset[str] = frozenset(), exclude: frozenset[str] = frozenset()
) -> tuple[Operation, ...]:
    """The operations to serve, in this order of precedence: read-only beats everything, exclusion beats
    inclusion, and no inclusion list means every tool. Names are tool names or toolsets."""

    def expand(names: frozenset[str], flag: str) -> set[str]:
        unknown = sorted(n for n in names if n not in BY_NAME and n not in TOOLSETS)
        if unknown:
            raise ConfigurationError(
                f"Unknown tool or toolset in {flag}: {', '.join(unknown)}.",
                f"Toolsets: {', '.join(TOOLSETS)}; tools: {', '.join(BY_NAME)}.",
            )
        return {tool for n in names for tool in TOOLSETS.get(n, {n})}

    chosen = expand(tools, "--tools") if tools else set(BY_NAME)
    chosen -= expand(exclude, "--exclude-tools")
    return tuple(op for op in CATALOGUE if op.name in chosen and (op.effect is Effect.READ or not read_only))
