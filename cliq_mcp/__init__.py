"""cliq-mcp: Zoho Cliq chats (REST API v3) as MCP tools."""

import sys

__version__ = "0.1.0"

# httpx's package imports its own command line (click, rich, pygments: about 25 ms, a twentieth of a cold start)
# whenever those are installed, as rich is for our commands. This server never runs httpx's command line, so it is
# left out: httpx catches the ImportError and goes on without it. (No effect once httpx was imported.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
