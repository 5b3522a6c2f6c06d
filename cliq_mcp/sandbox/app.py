"""The ASGI app: the simulated Cliq's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import chat_ops, chats, users
from .context import endpoint
from .inputs import incoming
from .workspace import Workspace

API = "/api/v3"
CHAT = f"{API}/chats/{{chat_id}}"


def create_app(workspace: Workspace | None = None) -> Starlette:
    """The simulated Cliq API (under ``/api/v3``, and the v2 Users API) and accounts server (``/oauth/v2/token``)."""
    routes = [
        _route(
            f"{API}/chats",
            GET=endpoint(chats.list_chats),
            POST=endpoint(chats.create_chat),
            PUT=endpoint(chats.bulk_update),
        ),
        _route(f"{API}/chats/search", GET=endpoint(chats.search_chats, "nested")),
        _route(CHAT, GET=endpoint(chats.get_chat), PUT=endpoint(chat_ops.update_chat)),
        _route(
            f"{CHAT}/members",
            GET=endpoint(chat_ops.list_members),
            POST=endpoint(chat_ops.add_members),
            DELETE=endpoint(chat_ops.remove_members),
        ),
        _route(f"{CHAT}/forks", POST=endpoint(chat_ops.fork_chat)),
        _route(f"{CHAT}/activities", POST=endpoint(chat_ops.send_activity)),
        _route(f"{CHAT}/leave", POST=endpoint(chat_ops.leave_chat)),
        _route(f"{CHAT}/mute", POST=endpoint(chat_ops.mute_chat)),
        _route(f"{CHAT}/unmute", POST=endpoint(chat_ops.unmute_chat)),
        _route("/api/v2/users", GET=endpoint(users.list_users)),
        _route("/oauth/v2/token", POST=_token),
        _route("/oauth/v2/token/revoke", POST=_revoke),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.router.redirect_slashes = False  # assumption: Cliq does not redirect a trailing slash
    app.state.workspace = workspace if workspace is not None else Workspace()
    return app


def _route(path: str, **handlers: Callable[[Request], Awaitable[Response]]) -> Route:
    """One route per path, so a wrong method gets a 405 whose Allow header lists every method."""

    async def dispatch(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return Route(path, dispatch, methods=list(handlers))


async def _params(request: Request) -> dict[str, str]:
    """Token-endpoint parameters: query string, overridden by a form-encoded body."""
    sent = await incoming(request)
    return {**dict(sent.query), **(sent.form() or {})}


async def _token(request: Request) -> Response:
    ws: Workspace = request.app.state.workspace
    return JSONResponse(ws.tokens.exchange(await _params(request), limited=ws.rate_limits))


async def _revoke(request: Request) -> Response:
    ws: Workspace = request.app.state.workspace
    return JSONResponse(ws.tokens.revoke((await _params(request)).get("token", "")))


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # only registered for HTTPException
        raise exc
    # assumption: unknown URLs and wrong methods answer in the flat shape with code invalid_request.
    if exc.status_code == 405:
        message = f"The method {request.method} is not allowed on {request.url.path}."
    else:
        message = f"No such URL: {request.url.path}."
    return JSONResponse(
        {"code": "invalid_request", "message": message}, status_code=exc.status_code, headers=exc.headers
    )
