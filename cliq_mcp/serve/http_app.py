"""Streamable HTTP transport: the same tools, stateless, so replicas behind any load balancer share load.

Binding beyond loopback requires a bearer token (CLIQ_MCP_HTTP_TOKEN). Host and Origin headers are
checked against DNS rebinding (loopback: the SDK's defaults; elsewhere: CLIQ_MCP_ALLOWED_HOSTS /
CLIQ_MCP_ALLOWED_ORIGINS). ``/healthz`` answers probes without a token and without touching Cliq.
Stateless means no server-to-client stream: ``GET /mcp`` answers 405. ``--workers N`` serves with N
processes (``worker_app`` builds each one's app); pacing and single-use state are shared through the store.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from cliq_mcp.core import logs
from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import ConfigurationError
from cliq_mcp.guard.approval import Approvals
from cliq_mcp.serve.server import build_server
from cliq_mcp.tools.catalogue import select
from cliq_mcp.tools.row import Effect

logger = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEALTH = "/healthz"
APPROVALS = "/approvals"
MCP_PATH = "/mcp"
WORKER_SETUP = "CLIQ_MCP_WORKER_SETUP"  # how the CLI hands host, port and flags to --workers processes


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """``origin`` is one of ``allowed``, exactly or by a ``scheme://host:*`` pattern (any port), as the SDK's
    own Origin check reads the same list."""
    for pattern in allowed:
        if origin == pattern or (pattern.endswith(":*") and re.fullmatch(re.escape(pattern[:-1]) + r"\d+", origin)):
            return True
    return False


class StatelessOnly:
    """``GET /mcp`` would open a server-to-client stream, which a stateless server never writes to: the SDK
    holds it open, idle, forever. Answer 405 instead, as the spec allows."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].rstrip("/") == MCP_PATH:
            answer = JSONResponse({"error": "this server is stateless: POST requests to /mcp"}, status_code=405,
                                  headers={"Allow": "POST"})  # fmt: skip
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


BODY_TIMEOUT_S = 30.0  # a POST's body must arrive whole within this, once its head has come
MAX_BODY_BYTES = 4 * 1024 * 1024  # a tool call is a few KB; more is refused (413) before it is kept in memory


class WholeBody:
    """A POST's body, read whole before the app sees the request. The SDK reads the body of ``POST /mcp``
    itself, and a client that closed the connection partway (a Content-Length it never sent) made it log
    "Error handling POST request" with starlette's ClientDisconnect traceback, then try to answer 500 into
    the closed connection; a client that sent part of a body and then nothing held the connection forever.
    Here the first is one log line and nothing more, the second 408 after ``timeout`` s; the app gets the body
    in one piece and, after it, the client's messages as they come (a disconnect during a long answer)."""

    def __init__(self, app: ASGIApp, timeout: float = BODY_TIMEOUT_S, most: int = MAX_BODY_BYTES) -> None:
        self.app, self.timeout, self.most = app, timeout, most

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        whole = False
        with anyio.move_on_after(self.timeout):
            while not whole:
                message = await receive()
                if message["type"] == "http.disconnect":
                    logger.warning("%s: the client closed the connection after %s; nothing was done",
                                   _what(scope), _how_much(scope, chunks))  # fmt: skip
                    return
                chunks.append(message.get("body", b""))
                whole = not message.get("more_body", False)
                if sum(len(c) for c in chunks) > self.most:
                    logger.warning("%s: its request body is over %d bytes; answered 413", _what(scope), self.most)
                    answer = JSONResponse({"error": f"the request body is over {self.most} bytes"}, status_code=413,
                                          headers={"Connection": "close"})  # fmt: skip
                    await answer(scope, receive, send)
                    return
        if not whole:
            logger.warning("%s: the client sent only %s in %g s; answered 408", _what(scope),
                           _how_much(scope, chunks), self.timeout)  # fmt: skip
            answer = JSONResponse({"error": f"the request body did not arrive whole within {self.timeout:g} s"},
                                  status_code=408, headers={"Connection": "close"})  # fmt: skip
            await answer(scope, receive, send)
            return
        body = b"".join(chunks)
        given = False

        async def replay() -> Message:
            nonlocal given
            if given:
                return await receive()
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _what(scope: Scope) -> str:
    """The request, for a log line: its path only if it is /mcp (an approval page's path is its secret)."""
    return f"POST {MCP_PATH}" if scope["path"].rstrip("/") == MCP_PATH else "a POST request"


def _how_much(scope: Scope, chunks: list[bytes]) -> str:
    got = sum(len(c) for c in chunks)
    try:
        return f"{got} of the {int(dict(scope['headers']).get(b'content-length', b''))} bytes of its request body"
    except ValueError:  # chunked: no length said
        return f"{got} bytes of its request body"


class BearerAuth:
    """Every request but the health probe must carry ``Authorization: Bearer <token>`` (the scheme in any
    case, RFC 9110); a browser page from an origin not in ``origins`` is refused whatever it carries."""

    def __init__(self, app: ASGIApp, token: str, origins: Iterable[str]) -> None:
        self.app, self.token, self.origins = app, token.encode(), tuple(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The approval pages are opened by a person's browser, which has no bearer token: each page is guarded
        # by its own one-time URL, browser lock, CSRF token and exact Host/Origin checks (guard/approval).
        if scope["type"] == "http" and scope["path"] != HEALTH and not scope["path"].startswith(APPROVALS + "/"):
            headers = dict(scope["headers"])
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and not origin_allowed(origin, self.origins):
                await JSONResponse({"error": "origin not allowed"}, status_code=403)(scope, receive, send)
                return
            scheme, _, given = headers.get(b"authorization", b"").strip().partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                answer = JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                      headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


MIN_TOKEN = 32  # characters of CLIQ_MCP_HTTP_TOKEN: token_urlsafe(32) gives 43


def build_app(settings: Settings, host: str, port: int) -> Starlette:
    loopback = host in LOOPBACK
    token = settings.http_token.get_secret_value() if settings.http_token else None
    if not token and (not settings.sandbox or not loopback):
        # Loopback is no boundary between users: any process of anyone on this machine could call the tools as
        # the account's owner, and answer its own confirmation questions. Only a sandbox on loopback risks nothing.
        where = "on loopback too (any user's process on this machine can reach it)" if loopback else f"on {host}"
        raise ConfigurationError(
            f"Serving HTTP needs a bearer token, {where}: without one, whoever connects acts as you in Cliq.",
            "Set CLIQ_MCP_HTTP_TOKEN to a long random value (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))') and give clients `Authorization: Bearer <token>`; or use stdio; "
            "or --sandbox.",
        )
    if token is not None and len(token) < MIN_TOKEN:  # guessed in a few requests, it would guard nothing
        raise ConfigurationError(
            f"CLIQ_MCP_HTTP_TOKEN is too short ({len(token)} characters): it is all that stands between the "
            "account and whoever can connect.",
            f"Use at least {MIN_TOKEN} random characters: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    # Approval pages live under this app's own path; their URLs reach the person only as URL elicitations.
    public = settings.public_url or f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    approvals = Approvals(base_url=public.rstrip("/") + APPROVALS)
    server = build_server(settings, approvals=approvals)

    @server.custom_route(HEALTH, methods=["GET"])  # type: ignore[untyped-decorator]  # the SDK's decorator
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "sandbox": settings.sandbox})

    security = None
    if not loopback or settings.allowed_hosts or settings.allowed_origins:
        hosts = [*LOOPBACK_HOSTS, *settings.allowed_hosts] if loopback else list(settings.allowed_hosts)
        origins = [*LOOPBACK_ORIGINS, *settings.allowed_origins] if loopback else list(settings.allowed_origins)
        # Beyond loopback without an allowed-hosts list the Host header cannot be checked; the bearer token,
        # which no other site's page can know, is what stops DNS rebinding there.
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=bool(hosts), allowed_hosts=hosts, allowed_origins=origins
        )
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, transport_security=security, host=host
    )
    app.mount(APPROVALS, approvals.app)
    app.add_middleware(StatelessOnly)
    # Inside the bearer check: a client without the token gets its 401 before any of its body is kept.
    app.add_middleware(WholeBody)
    if token:
        # On loopback the same Origins as without a token (the SDK's defaults): local pages and tools keep working.
        origins = [*LOOPBACK_ORIGINS, *settings.allowed_origins] if loopback else list(settings.allowed_origins)
        app.add_middleware(BearerAuth, token=token, origins=origins)
    return app


LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


HEAD_TIMEOUT_S = 20.0  # a request's head (request line and headers) must arrive whole within this


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc,valid-type]  # uvicorn's choice of h11 / httptools
    """uvicorn's HTTP protocol with TCP_NODELAY on every connection, and a deadline for each request's head.

    TCP_NODELAY: asyncio sets it only on connections accepted from a socket made with ``IPPROTO_TCP``; uvicorn
    makes the ``--workers`` socket with proto 0, so there Nagle stayed on and each answer, written in pieces
    (headers, the event, the end of the stream), waited about 40 ms for the client's delayed ACK: ~44 ms a
    call instead of ~3 ms.

    The head's deadline: uvicorn (0.55, h11 and httptools alike) arms its keep-alive timeout only after a
    response, and any byte received disarms it, so a connection that sent nothing yet, or part of a request
    line or of its headers, was held open forever: a few hundred such clients held as many sockets and file
    descriptors. Now a connection with no request in progress is closed ``head_timeout`` s after it was
    opened or after its last response, however slowly the bytes of a head keep coming."""

    def __init__(self, *args: Any, head_timeout: float = HEAD_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request at once
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
        if not self.transport.is_closing():
            self.head_deadline = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _head_overdue(self) -> None:
        self.head_deadline = None
        # A request in progress (its head came; its body or its answer may take long) is not cut short, nor
        # a connection handed over to a WebSocket protocol.
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting and self.transport.get_protocol() is self and not self.transport.is_closing():
            logger.debug("closing a connection that sent no whole request head in %g s", self.head_timeout)
            self.transport.close()


HTTP_PROTOCOL = f"{__name__}:{NoDelayHTTP.__name__}"  # by name: each --workers process imports it


def check_workers(settings: Settings, workers: int) -> None:
    """Several workers share pacing, single-use state and approval pages through the account's state store; with
    no store (no state directory, no CLIQ_STATE_URL) a page would live in the memory of one worker, and a
    person's browser may reach another: refuse that case."""
    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, not {workers}.", "")
    guard = settings.guard
    chosen = select(read_only=guard.read_only, tools=guard.tools, exclude=guard.exclude_tools)
    destructive = any(op.effect is Effect.DESTRUCTIVE for op in chosen)
    if workers > 1 and guard.policy == "ask" and destructive and guard.state_url is None:
        raise ConfigurationError(
            f"--workers {workers} with CLIQ_GUARD=ask and no state store: an approval page would live in the "
            "memory of the worker that opened it, and a person's browser may reach another worker.",
            "Set CLIQ_STATE_URL (a sqlite:/// file or redis://) so that every worker shares the pages, or use "
            "CLIQ_GUARD=elicit (form elicitation only), or serve no destructive tools (--read-only).",
        )


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is an error before anything says "listening"."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
                                 "Pick another --port (or stop what uses it).") from None  # fmt: skip
    sock.set_inheritable(True)  # the worker processes take it over
    return sock


def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    workers: int = 1,
    env: Mapping[str, str] = {},
    listening: Callable[[], None] = lambda: None,
) -> None:
    """Serve until interrupted; ``listening()`` once the port is bound. With ``workers`` > 1, uvicorn starts
    that many processes, each building its app with ``worker_app`` from ``env`` (the CLI's environment with
    its flags applied) and this setup."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    check_workers(settings, workers)
    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": settings.log_level.lower(), "http": HTTP_PROTOCOL,
        "access_log": False, "log_config": None,
        # SIGTERM: calls in flight get a few seconds to finish (and answer) before the process ends.
        "timeout_graceful_shutdown": 5,
    }  # fmt: skip
    app = build_app(settings, host, port)  # configuration errors before anything is bound or started
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(app, **options))
        sock = _listen(host, port)
        listening()
        server.run(sockets=[sock])
        return
    os.environ.update(env)
    setup = {"host": host, "port": port, "sandbox": settings.sandbox, "log_level": settings.log_level}
    os.environ[WORKER_SETUP] = json.dumps(setup)
    if settings.guard.secret is None:
        # Every worker must verify the others' confirmation tokens and sealed answers: one key for this server.
        os.environ["CLIQ_GUARD_SECRET"] = secrets.token_urlsafe(32)
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    sock = _listen(host, port)
    listening()
    Multiprocess(config, sockets=[sock]).run()


def worker_app() -> Starlette:
    """One ``--workers`` process's app, from the environment ``serve`` prepared."""
    setup = json.loads(os.environ[WORKER_SETUP])
    settings = Settings.from_env(os.environ, sandbox=bool(setup["sandbox"]), log_level=setup["log_level"])
    logs.configure(settings.log_level, settings.secrets())
    return build_app(settings, setup["host"], int(setup["port"]))
