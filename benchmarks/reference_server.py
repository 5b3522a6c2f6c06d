"""The bare-SDK reference: the least an ``MCPServer`` can do for ``get_chat``.

One tool, one httpx call (``GET {base}/chats/{chat_id}`` with Cliq's auth header), the JSON text
returned as it came: no validation, no summary, no structured output. Reads the same environment
variables as cliq-mcp (``CLIQ_API_BASE_URL``, ``CLIQ_ACCESS_TOKEN``). Like cliq-mcp it creates its
httpx client on first use and keeps the connection alive between calls.

Run: ``python benchmarks/reference_server.py`` (MCP over stdio).
"""

from __future__ import annotations

import os

import httpx
from mcp.server import MCPServer

BASE = os.environ.get("CLIQ_API_BASE_URL", "https://cliq.zoho.com/api/v3").rstrip("/")
HEADERS = {"Authorization": f"Zoho-oauthtoken {os.environ.get('CLIQ_ACCESS_TOKEN', '')}"}

mcp = MCPServer("cliq-reference", log_level="WARNING")  # as quiet as cliq-mcp: no log line per call
_http: list[httpx.AsyncClient] = []


@mcp.tool(structured_output=False)
async def get_chat(chat_id: str) -> str:
    """Get a Cliq chat by id (raw API JSON)."""
    if not _http:
        _http.append(httpx.AsyncClient())
    response = await _http[0].get(f"{BASE}/chats/{chat_id}", headers=HEADERS)
    return response.text


if __name__ == "__main__":
    mcp.run()
