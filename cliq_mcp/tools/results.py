"""What a tool call returns: the compact text a model reads and the structured content programs read."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel


def result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json"),  # Output leaves out None, except unknowns (as null)
    )


def error_result(message: str, data: dict[str, Any] | None = None) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], structured_content=data, is_error=True)
