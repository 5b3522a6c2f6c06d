"""The v2 Users API: ``GET /api/v2/users`` (the notes' "Users (v2, partly unconfirmed)").

assumptions, as the notes hold no example: the parameters are ``search`` (part of a name, or of an email),
``limit`` (1-100, default 20) and ``next_token``; the list is ``data``, each person ``{"id", "name",
"email_id"}``; ``next_token`` at top level while more remain. An unknown parameter is HTTP 400
``extra_param_found`` (as one client library reports). The scope is ZohoCliq.Users.READ, which the chat
scopes (and ZohoCliq.Chats.ALL) do not grant: a token without it gets the generic 403.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from .context import Ctx
from .errors import ApiError, forbidden, invalid_inputs, throttled
from .inputs import DIGITS
from .tokens import USERS_READ

PARAMS = ("search", "limit", "next_token")
DEFAULT_LIMIT = 20


def list_users(ctx: Ctx) -> Response:
    if USERS_READ not in ctx.scopes:
        raise forbidden()
    if ctx.ws.rate_limits and not ctx.ws.throttle.admit("list_users"):
        raise throttled(ctx.ws.throttle_style)
    extra = sorted({name for name, _ in ctx.sent.query} - set(PARAMS))
    if extra:
        raise ApiError(400, "extra_param_found", f"Extra parameter(s) found: {', '.join(extra)}.")
    q = ctx.query(PARAMS)
    search = (q.get("search", max_length=200) or "").casefold()
    limit = q.integer("limit", 1, 100, DEFAULT_LIMIT)
    token = q.get("next_token")
    start = 0
    if token is not None:
        if not DIGITS.fullmatch(token):
            raise invalid_inputs("The next_token is malformed.")
        start = int(token)
    found = [
        user
        for user in sorted(ctx.ws.users.values(), key=lambda u: u.name)
        if search in user.name.casefold() or search in user.email_id.casefold()
    ]
    page = found[start : start + limit]
    body: dict[str, Any] = {"data": [{"id": u.user_id, "name": u.name, "email_id": u.email_id} for u in page]}
    if start + limit < len(found):
        body["next_token"] = str(start + limit)
    return JSONResponse(body)
