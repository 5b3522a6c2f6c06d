"""Streamable HTTP transport: the same tools, stateless, so replicas behind any load balancer share load.

Binding beyond loopback requires a bearer token (CLIQ_MCP_HTTP_TOKEN). Host and Origin headers are
checked against DNS rebinding (loopback: the SDK's defaults; elsewhere: CLIQ_MCP_ALLOWED_HOSTS /
CLIQ_MCP_ALLOWED_ORIGINS). ``/healthz`` answers probes without a token and without touching Cliq.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cliq_mcp.config import Settings
from cliq_mcp.errors import ConfigurationError
from cliq_mcp.guard.approval import Approvals
from cliq_mcp.server import build_server

logger = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
HEALTH = "/healthz"
APPROVALS = "/approvals"


class BearerAuth:
    """Every request but the health probe must carry ``Authorization: Bearer <token>``; a browser page
    from another origin is refused whatever it carries."""

    def __init__(self, app: ASGIApp, token: str, origins: frozenset[str]) -> None:
        self.app, self.token, self.origins = app, token.encode(), origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The approval pages are opened by a person's browser, which has no bearer token: each page is guarded
        # by its own one-time URL, browser lock, CSRF token and exact Host/Origin checks (guard/approval).
        if scope["type"] == "http" and scope["path"] != HEALTH and not scope["path"].startswith(APPROVALS + "/"):
            headers = dict(scope["headers"])
            origin = headers.get(b"origin", b"").decode("latin-1")
            if origin and origin not in self.origins:
                await JSONResponse({"error": "origin not allowed"}, status_code=403)(scope, receive, send)
                return
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                answer = JSONResponse({"error": "missing or wrong bearer token"}, status_code=401,
                                      headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(settings: Settings, host: str, port: int) -> Starlette:
    loopback = host in LOOPBACK
    token = settings.http_token.get_secret_value() if settings.http_token else None
    if not loopback and not token:
        raise ConfigurationError(
            f"Serving HTTP on {host} (beyond loopback) needs a bearer token.",
            "Set CLIQ_MCP_HTTP_TOKEN to a long random value and give it to your clients, or bind 127.0.0.1.",
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
    app = server.streamable_http_app(stateless_http=True, transport_security=security, host=host)
    app.mount(APPROVALS, approvals.app)
    if token:
        app.add_middleware(BearerAuth, token=token, origins=settings.allowed_origins)
    return app


LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    config: dict[str, Any] = {"host": host, "port": port, "log_level": settings.log_level.lower()}
    uvicorn.run(build_app(settings, host, port), access_log=False, log_config=None, **config)
