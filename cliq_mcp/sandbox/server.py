"""Serving the sandbox over a real socket: in a background thread for tests, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import create_app
from .faults import DROP_EXTENSION
from .state import Workspace

logger = logging.getLogger("cliq_mcp.sandbox")


class _DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, handing the app a way to close the connection without answering.

    A plain ASGI app cannot do that (uvicorn answers 500 for it), so the ``drop`` fault needs this.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {
                **(scope.get("extensions") or {}),
                DROP_EXTENSION: {"close": transport.close},
            }
            await inner(scope, receive, send)

        self.app = app


def _config(workspace: Workspace | None, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(workspace),
        host=host,
        port=port,
        http=_DroppingH11Protocol,
        ws="none",
        lifespan="off",
        proxy_headers=False,
        access_log=False,
        log_config=None,
        log_level=log_level,
        timeout_graceful_shutdown=2,
    )


@contextmanager
def serve_in_background(workspace: Workspace | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the sandbox on loopback in a daemon thread; yield its base URL, stop it on exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off for sockets it knows are TCP, and with Nagle
    # on, every loopback answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        server = uvicorn.Server(_config(workspace, host, port, "warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="cliq-sandbox", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the Cliq sandbox server did not start")
                time.sleep(0.005)
            bound = sock.getsockname()[1]
            yield f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}"
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        sock.close()


def serve(host: str = "127.0.0.1", port: int = 8765, **workspace_kwargs: Any) -> None:
    """Serve the sandbox until interrupted; logs go to stderr (stdout may be a protocol stream)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = _config(Workspace(**workspace_kwargs), host, port, "info")
    logger.info("Cliq sandbox: API http://%s:%d/api/v3, token endpoint /oauth/v2/token", host, port)
    uvicorn.Server(config).run()
