"""What every API route does first: authenticate, check the scope, throttle; errors become answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, Style, chat_access_denied, forbidden, not_a_member, throttled, unauthorized
from .inputs import Incoming, Query, incoming, json_object
from .state import Chat, WorkspaceState

READ, CREATE, UPDATE, DELETE = (f"ZohoCliq.Chats.{verb}" for verb in ("READ", "CREATE", "UPDATE", "DELETE"))
MESSAGES_UPDATE = "ZohoCliq.Messages.UPDATE"
# assumption: Zoho's umbrella scope grants every chat operation.
ALL_CHATS = "ZohoCliq.Chats.ALL"

SCOPES: dict[str, tuple[str, ...]] = {
    "list_chats": (READ,),
    "search_chats": (READ,),
    "get_chat": (READ,),
    "list_members": (READ,),
    "create_chat": (CREATE,),
    "fork_chat": (CREATE,),
    "read_status_update": (UPDATE,),
    "clear_unread": (UPDATE,),
    "update_title": (UPDATE,),
    "update_history_status": (UPDATE,),
    "mark_as_read": (UPDATE, MESSAGES_UPDATE),
    "mark_as_unread": (UPDATE, MESSAGES_UPDATE),
    "clear_local_history": (UPDATE,),
    "close_chat": (UPDATE,),
    "add_members": (UPDATE,),
    "send_activity": (UPDATE,),
    "leave_chat": (UPDATE,),  # assumption
    "mute_chat": (UPDATE,),  # assumption
    "unmute_chat": (UPDATE,),  # assumption
    "remove_members": (DELETE,),
}


@dataclass
class Ctx:
    """One authenticated API request."""

    ws: WorkspaceState
    request: Request
    sent: Incoming
    scopes: frozenset[str]

    def admit(self, operation: str) -> None:
        """Refuse unless the token has the operation's scope and the operation is not throttled."""
        needed = SCOPES[operation]
        if ALL_CHATS not in self.scopes and not self.scopes.intersection(needed):
            raise forbidden()
        if self.ws.rate_limits and not self.ws.throttle.admit(operation):
            raise throttled(self.ws.throttle_style)

    def query(self, allowed: Iterable[str]) -> Query:
        return Query(self.sent.query, allowed)

    def body(self) -> dict[str, Any]:
        return json_object(self.sent)

    def chat(self, *, member: bool = True) -> Chat:
        """The chat named in the path; with ``member`` the caller must have joined it."""
        chat_id = str(self.request.path_params["chat_id"])
        chat = self.ws.visible(chat_id)
        if chat is None:
            raise chat_access_denied(chat_id)
        if member and not self.ws.is_member(chat):
            raise not_a_member(chat_id)
        return chat


Handler = Callable[[Ctx], Response]


def endpoint(handler: Handler, style: Style = "flat") -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: authenticate, run it on the event loop, render any ApiError in ``style``."""

    async def run(request: Request) -> Response:
        ws: WorkspaceState = request.app.state.workspace
        try:
            scopes = _authenticate(ws, request, style)
            return handler(Ctx(ws, request, await incoming(request), scopes))
        except ApiError as error:
            return error.response(style)

    return run


def _authenticate(ws: WorkspaceState, request: Request, style: Style) -> frozenset[str]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    scopes = ws.tokens.scopes_of(token) if scheme.lower() == "zoho-oauthtoken" else None
    if scopes is None:
        raise unauthorized(style)
    return scopes
