"""The catalogue: every Cliq chat operation, one row each. A row names the tool, its input model,
the HTTP method and path, the fixed part of the request, the effect (which drives annotations,
tool selection and the guard), Cliq's documented rate limit, and the summary of the answer.

Adding an operation is one model (tools/inputs.py), one summary (tools/summaries.py) and one row here.
"""

from __future__ import annotations

from typing import Any

from cliq_mcp.cliq.limits import (
    BULK_PUT,
    CREATE,
    DELETE,
    GET_CHAT,
    LIST_CHATS,
    MEMBERSHIP,
    PER_CHAT_PUT,
    READ,
    UPDATE,
)
from cliq_mcp.cliq.wire import RateLimit
from cliq_mcp.core.errors import ConfigurationError
from cliq_mcp.housekeeping.plan import preview_policy
from cliq_mcp.tools import inputs as m
from cliq_mcp.tools import outputs as o
from cliq_mcp.tools import summaries as s
from cliq_mcp.tools.people import USERS, find_people
from cliq_mcp.tools.row import Effect, Operation
from cliq_mcp.tools.walks import apply_each, clear_unread, list_chats, plan_tidy

READ_ROW: dict[str, Any] = {"method": "GET", "effect": Effect.READ, "idempotent": True, "targets": ()}
ONE_CHAT = ("chat_id",)
# The many PUT /chats/{chat_id} operations: the body carries exactly one "operation".
PUT_CHAT: dict[str, Any] = {"method": "PUT", "path": "/chats/{chat_id}", "output": o.Done}
DONE: dict[str, Any] = {"output": o.Done}
# The notes: clearing history is for direct and group chats only; leaving and removing members is not for
# direct chats. A bot chat is one person and a bot: no one to remove, nothing to leave (assumption, as the
# simulated Cliq has it; the notes are silent).
NOT_DIRECT = frozenset({"direct_message", "bot"})
NOT_CLEARABLE = frozenset({"channel", "bot", "thread"})

CATALOGUE: tuple[Operation, ...] = (
    Operation(name="list_chats", title="List chats", model=m.ListChats, path="/chats", **READ_ROW,
              summary=s.chat_list, output=o.ChatList, rate=LIST_CHATS, run=list_chats),
    Operation(name="search_chats", title="Search chats", model=m.SearchChats, path="/chats/search", **READ_ROW,
              summary=s.chat_list, output=o.ChatList, rate=RateLimit("search_chats", 50, "10 minutes", READ)),
    Operation(name="get_chat", title="Get a chat", model=m.GetChat, path="/chats/{chat_id}", **READ_ROW,
              summary=s.one_chat, output=o.OneChat, rate=GET_CHAT),
    Operation(name="list_chat_members", title="List chat members", model=m.ListChatMembers,
              path="/chats/{chat_id}/members", **READ_ROW, summary=s.members, output=o.Members,
              rate=RateLimit("list_chat_members", 20, "10 minutes", READ),
              fixed={"fields": "user_id,email_id,name"}),
    Operation(name="create_chat", title="Create a chat", model=m.CreateChat, method="POST", path="/chats",
              targets=(),
              effect=Effect.WRITE, summary=s.created_chat, output=o.ChatWritten,
              rate=RateLimit("create_chat", 30, "", CREATE)),
    Operation(name="mark_chats_read", title="Mark chats read", model=m.MarkChatsRead, method="PUT", path="/chats",
              targets=("chats[].chat_id",),
              effect=Effect.WRITE, summary=s.read_status, output=o.Bulk, rate=BULK_PUT, idempotent=True,
              fixed={"operation": "read_status_update", "read_status": "read"}),
    Operation(name="clear_unread_counts", title="Clear unread counts", model=m.ClearUnreadCounts, method="PUT",
              targets=("chat_ids[]",),
              path="/chats", effect=Effect.WRITE, summary=s.cleared_unread, output=o.Bulk, rate=BULK_PUT,
              idempotent=True, fixed={"operation": "clear_unread"}, run=clear_unread),
    Operation(name="rename_chat", title="Rename a chat", model=m.RenameChat, **PUT_CHAT, effect=Effect.WRITE,
              targets=ONE_CHAT,
              summary=s.renamed, rate=RateLimit("rename_chat", 60, "10 minutes", UPDATE), idempotent=True,
              fixed={"operation": "update_title"}),
    Operation(name="set_chat_history", title="Turn chat history on/off", model=m.SetChatHistory, **PUT_CHAT,
              targets=ONE_CHAT,
              effect=Effect.WRITE, summary=s.done("history_set", "History of chat {chat_id} is now {history_status}"),
              rate=RateLimit("set_chat_history", 60, "10 minutes", UPDATE), idempotent=True,
              fixed={"operation": "update_history_status"}),
    Operation(name="mark_chat_read", title="Mark a chat read", model=m.MarkChatRead, **PUT_CHAT, effect=Effect.WRITE,
              targets=ONE_CHAT,
              summary=s.done("marked_read", "Marked chat {chat_id} read up to {message_id}"),
              rate=PER_CHAT_PUT, idempotent=True, fixed={"operation": "mark_as_read"}),
    Operation(name="mark_chat_unread", title="Mark a chat unread", model=m.MarkChatUnread, **PUT_CHAT,
              targets=ONE_CHAT,
              effect=Effect.WRITE, summary=s.done("marked_unread", "Marked chat {chat_id} unread from {message_id}"),
              rate=PER_CHAT_PUT, idempotent=True, fixed={"operation": "mark_as_unread"}),
    Operation(name="add_chat_members", title="Add chat members", model=m.AddChatMembers, method="POST",
              targets=ONE_CHAT,
              path="/chats/{chat_id}/members", effect=Effect.WRITE, **DONE,
              summary=s.members_changed("Added", "added_user_ids"),
              rate=RateLimit("add_chat_members", 20, "10 minutes", UPDATE)),
    Operation(name="fork_chat", title="Fork a chat", model=m.ForkChat, method="POST", path="/chats/{chat_id}/forks",
              targets=ONE_CHAT,
              effect=Effect.WRITE, summary=s.created_chat, output=o.ChatWritten,
              rate=RateLimit("fork_chat", 50, "10 seconds", CREATE)),
    Operation(name="send_typing_activity", title="Send typing activity", model=m.SendTypingActivity, method="POST",
              targets=ONE_CHAT,
              path="/chats/{chat_id}/activities", effect=Effect.WRITE, **DONE,
              summary=s.done("sent", "Sent {action} to chat {chat_id}"),
              rate=RateLimit("send_typing_activity", 100, "50 minutes", UPDATE)),
    Operation(name="mute_chat", title="Mute a chat", model=m.MuteChat, method="POST", path="/chats/{chat_id}/mute",
              targets=ONE_CHAT,
              effect=Effect.WRITE, **DONE, summary=s.done("muted", "Muted chat {chat_id} " + s.MUTE_NOTE),
              rate=MEMBERSHIP, idempotent=True),
    Operation(name="unmute_chat", title="Unmute a chat", model=m.UnmuteChat, method="POST",
              targets=ONE_CHAT,
              path="/chats/{chat_id}/unmute", effect=Effect.WRITE, **DONE,
              summary=s.done("unmuted", "Unmuted chat {chat_id} " + s.MUTE_NOTE), rate=MEMBERSHIP, idempotent=True),
    Operation(name="clear_chat_history", title="Clear chat history", model=m.ClearChatHistory, **PUT_CHAT,
              targets=ONE_CHAT,
              effect=Effect.DESTRUCTIVE, summary=s.done("history_cleared", "Cleared your history of chat {chat_id}"),
              rate=PER_CHAT_PUT, idempotent=True, fixed={"operation": "clear_local_history"},
              refused_types=NOT_CLEARABLE,
              confirm="Clear your message history of {chat}? You will no longer see its past messages."),
    Operation(name="close_chat", title="Close a chat", model=m.CloseChat, **PUT_CHAT, effect=Effect.DESTRUCTIVE,
              targets=ONE_CHAT,
              summary=s.done("closed", "Closed chat {chat_id}"), rate=PER_CHAT_PUT, idempotent=True,
              fixed={"operation": "close_chat"}, confirm="Close {chat}? It will be hidden from your recent chats."),
    Operation(name="remove_chat_members", title="Remove chat members", model=m.RemoveChatMembers, method="DELETE",
              targets=ONE_CHAT,
              path="/chats/{chat_id}/members", effect=Effect.DESTRUCTIVE, **DONE,
              summary=s.members_changed("Removed", "removed_user_ids"),
              rate=RateLimit("remove_chat_members", 20, "10 minutes", DELETE),
              idempotent=True, refused_types=NOT_DIRECT,
              confirm="Remove {people} from {chat}? They lose access to the chat."),
    Operation(name="leave_chat", title="Leave a chat", model=m.LeaveChat, method="POST", path="/chats/{chat_id}/leave",
              targets=ONE_CHAT,
              effect=Effect.DESTRUCTIVE, **DONE, summary=s.done("left", "Left chat {chat_id}"), rate=MEMBERSHIP,
              idempotent=True, refused_types=NOT_DIRECT,
              confirm="Leave {chat}? You lose access to it until someone adds you back."),
    Operation(name="plan_tidy", title="Plan a tidy-up", model=m.PlanTidy, path="/chats", **READ_ROW,
              summary=s.tidy_plan, output=o.Plan, rate=LIST_CHATS, run=plan_tidy),
    Operation(name="preview_policy", title="Preview a housekeeping policy", model=m.PreviewPolicy, path="/chats",
              **READ_ROW, summary=s.policy_plan, output=o.PolicyPlan, rate=LIST_CHATS, run=preview_policy),
    Operation(name="close_chats", title="Close several chats", model=m.CloseChats, method="PUT",
              targets=("chat_ids[]",),
              path="/chats/{chat_id}", effect=Effect.DESTRUCTIVE, summary=s.bulk, output=o.Bulk, rate=PER_CHAT_PUT,
              fixed={"operation": "close_chat"}, idempotent=True, each="chat_ids", run=apply_each,
              confirm="Close {chats}? They will be hidden from your recent chats."),
    # GET {v2}/users, or chats and their members when the Users API is refused (tools/people.py).
    Operation(name="find_people", title="Find people", model=m.FindPeople, path="/users", **READ_ROW,
              summary=s.people, output=o.People, rate=USERS, run=find_people),
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
