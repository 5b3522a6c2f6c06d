"""Strict input (nothing coerced, times bounded, absurd nesting refused plainly) and no secret in any tool
result, even one Cliq echoes back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Q2, Cliq, api_calls, writes
from mcp import Client
from mcp.types import TextContent
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import ConfigurationError

COERCED: list[tuple[str, dict[str, Any], str]] = [
    ("list_chats", {"limit": True}, "limit"),  # a boolean is not a number
    ("list_chats", {"limit": "5"}, "limit"),  # nor is a string
    ("list_chats", {"limit": 5.0}, "limit"),
    ("list_chats", {"pinned": 1}, "pinned"),  # nor a number a boolean
    ("list_chats", {"pinned": "true"}, "pinned"),
    ("list_chats", {"modified_after": 10**60}, "modified_after"),  # no time Cliq can mean
    ("list_chats", {"modified_before": 253_402_300_800_000}, "modified_before"),  # after the year 9999
    ("rename_chat", {"chat_id": Q2, "title": "x", "dry_run": "yes"}, "dry_run"),
    ("mark_chats_read", {"chats": [{"chat_id": Q2, "message_id": 1773813859592}]}, "message_id"),
]


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.mark.parametrize(("tool", "args", "field"), COERCED, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(COERCED)])
async def test_nothing_is_coerced(
    cliq: Cliq, workspace: Workspace, tool: str, args: dict[str, Any], field: str
) -> None:
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error is True and "Invalid arguments, nothing was sent" in text(result) and field in text(result)
    assert api_calls(workspace) == []


async def test_what_is_meant_still_passes(cliq: Cliq, workspace: Workspace) -> None:
    async with Client(cliq.server(cliq.settings())) as client:
        listed = await client.call_tool("list_chats", {"limit": 5, "pinned": True, "modified_after": 0})
        iso = await client.call_tool("list_chats", {"limit": 5, "modified_after": "2024-01-01T00:00:00Z"})
    assert listed.is_error is False and iso.is_error is False
    assert [dict(r.query) for r in api_calls(workspace)] == [
        {"limit": "5", "pinned": "true", "modified_after": "0"},
        {"limit": "5", "modified_after": "1704067200000"},
    ]


@pytest.mark.parametrize("tool", ["list_chats", "close_chats"])
async def test_absurd_nesting_is_a_plain_error_and_nothing_may_have_been_applied(
    cliq: Cliq, workspace: Workspace, tool: str
) -> None:
    nested: Any = "x"
    for _ in range(250):  # past the JSON parser's depth limit
        nested = [nested]
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool(tool, {"chat_ids": nested})
    assert result.is_error is True and "nested too deeply" in text(result)
    assert "may have been applied" not in text(result) and "may or may not" not in text(result)
    assert api_calls(workspace) == []


@pytest.mark.parametrize("value", [",", " , ,"])
def test_a_tool_list_naming_nothing_is_an_error_not_every_tool(value: str) -> None:
    with pytest.raises(ConfigurationError, match="names nothing"):
        Settings.from_env({"CLIQ_TOOLS": value})
    with pytest.raises(ConfigurationError, match="names nothing"):
        Settings.from_env({"CLIQ_EXCLUDE_TOOLS": value})


# Secrets that reach us back from Cliq or Zoho must not reach the model.

ACCESS = "sandbox-token"  # the suite's static access token (cliq.settings())


async def test_an_error_echoing_the_access_token_is_redacted(cliq: Cliq, workspace: Workspace) -> None:
    echo = {"code": "invalid_oauthtoken", "message": f"Invalid oauthtoken {ACCESS} for this operation"}
    workspace.inject(Fault(method="GET", path_prefix=f"/api/v3/chats/{Q2}", kind="status", status=400, body=echo))
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is True and "invalid_oauthtoken" in text(result)
    assert ACCESS not in text(result) and "[redacted]" in text(result)


async def test_a_token_error_quoting_the_client_secret_is_redacted(cliq: Cliq, workspace: Workspace) -> None:
    secret = "sandbox-secret"
    quoting = {"error": f"invalid_client: client_secret {secret} does not match"}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=quoting))
    settings = Settings.from_env({
        "CLIQ_API_BASE_URL": f"{cliq.url}/api/v3", "CLIQ_ACCOUNTS_URL": cliq.url,
        "CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": secret, "CLIQ_REFRESH_TOKEN": "sandbox-refresh",
    })  # fmt: skip
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("list_chats", {"limit": 1})
    assert result.is_error is True and secret not in text(result)


async def test_a_refreshed_token_echoed_in_an_answer_is_redacted_in_text_and_structured(
    cliq: Cliq, workspace: Workspace
) -> None:
    settings = Settings.from_env({
        "CLIQ_API_BASE_URL": f"{cliq.url}/api/v3", "CLIQ_ACCOUNTS_URL": cliq.url,
        "CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
        "CLIQ_REFRESH_TOKEN": "sandbox-refresh",
    })  # fmt: skip
    async with Client(cliq.server(settings)) as client:
        assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
        minted = [r.headers["authorization"].split()[-1] for r in api_calls(workspace)][-1]
        workspace.chats[Q2].name = f"Deploy key {minted}"  # someone pasted it into a chat title
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is False
    assert minted not in text(result) and minted not in json.dumps(result.structured_content)
    assert "[redacted]" in result.structured_content["chat"]["name"]
    assert writes(workspace) == []


PASTED = [
    "Zoho-OAuthToken 1000.f00d.beef",
    "cl\u0131ent_secret=f00dbeef",
    "cl\u0130ent_secret=f00dbeef",
    "BEARER f00d.beef",
    "refresh_token: 'f00dbeef'",
]


@pytest.mark.parametrize("pasted", PASTED)
async def test_a_credential_pasted_into_a_chat_name_is_redacted_however_it_is_cased(
    cliq: Cliq, workspace: Workspace, pasted: str
) -> None:
    """Credential-shaped text is hidden in tool results whatever its case (as the pattern's IGNORECASE folds it,
    the dotless "ı" and the dotted "İ" too): a quick check skips the pattern only for text that cannot match it."""
    workspace.chats[Q2].name = f"Deploy {pasted}"
    async with Client(cliq.server(cliq.settings())) as client:
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert "f00d" not in text(result) and "f00d" not in json.dumps(result.structured_content)
    assert "[redacted]" in result.structured_content["chat"]["name"]
