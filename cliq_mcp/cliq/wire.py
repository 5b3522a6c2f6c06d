"""The low-level values every layer shares: what goes over the wire (``Wire``), how often Cliq allows it
(``RateLimit``), and safe path segments. No I/O and nothing from the rest of the package but errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cliq_mcp.core.errors import InvalidArguments


@dataclass(frozen=True)
class RateLimit:
    """Cliq's documented threshold (requests a minute) and the lock that follows exceeding it.

    ``key`` names the window it is paced in, in the shared state store: stable across processes and
    releases, one per limit (requests that Cliq counts together share one limit, so one key)."""

    key: str
    per_minute: int
    lock: str = ""  # e.g. "10 minutes"; empty where the notes document none
    scope: str = "ZohoCliq.Chats.READ"


@dataclass(frozen=True)
class Wire:
    """Exactly what goes to Cliq: method, path under the API base, query and JSON body. ``api`` "v2" puts the
    path under the v2 base instead (the Users API), derived from the v3 one."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    api: str = "v3"

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.params, "body": self.json}


def path_segment(value: str) -> str:
    """Percent-encode one path segment; refuse the ones that would change the path's meaning."""
    if value in ("", ".", "..") or "/" in value or "\\" in value:
        raise InvalidArguments(f"{value!r} cannot be used in a request path.", "Pass the id exactly as listed.")
    return quote(value, safe="")
