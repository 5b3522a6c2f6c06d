"""Serving the sandbox over HTTP until interrupted: ``cliq-mcp sandbox-server`` and ``python -m cliq_mcp.sandbox``."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn

from .app import create_app
from .workspace import Workspace

logger = logging.getLogger("cliq_mcp.sandbox")


def serve(host: str = "127.0.0.1", port: int = 8765, **workspace_kwargs: Any) -> None:
    """Serve the sandbox until interrupted; logs go to stderr (stdout may be a protocol stream)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(
        create_app(Workspace(**workspace_kwargs)),
        host=host,
        port=port,
        ws="none",
        lifespan="off",
        proxy_headers=False,
        access_log=False,
        log_config=None,
        log_level="info",
    )
    logger.info("Cliq sandbox: API http://%s:%d/api/v3, token endpoint /oauth/v2/token", host, port)
    uvicorn.Server(config).run()
