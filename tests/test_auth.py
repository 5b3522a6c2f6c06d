"""Credentials: a static token, or the refresh-token grant against the accounts server."""

from __future__ import annotations

import pytest
from conftest import Cliq, api_calls
from mcp import Client
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

SECRET = "sandbox-secret"
REFRESH = "sandbox-refresh"


def refresh_settings(url: str, secret: str = SECRET) -> Settings:
    return Settings.from_env(
        {
            "CLIQ_API_BASE_URL": f"{url}/api/v3",
            "CLIQ_ACCOUNTS_URL": url,
            "CLIQ_CLIENT_ID": "sandbox-client",
            "CLIQ_CLIENT_SECRET": secret,
            "CLIQ_REFRESH_TOKEN": REFRESH,
        }
    )


def token_calls(workspace: Workspace) -> list:
    return [r for r in workspace.requests if r.path == "/oauth/v2/token"]


async def test_refresh_token_grant_is_used_once_and_cached(cliq: Cliq, workspace: Workspace, era: str) -> None:
    async with Client(cliq.server(refresh_settings(cliq.url)), mode=era) as client:
        for _ in range(3):
            assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
    (token,) = token_calls(workspace)
    assert token.method == "POST"
    assert token.form == {
        "grant_type": "refresh_token",
        "client_id": "sandbox-client",
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }
    auths = {r.headers["authorization"] for r in api_calls(workspace)}
    assert len(auths) == 1
    (auth,) = auths
    assert auth.startswith("Zoho-oauthtoken ") and auth != "Zoho-oauthtoken sandbox-token"


async def test_a_401_refreshes_once_and_retries(cliq: Cliq, workspace: Workspace, era: str) -> None:
    async with Client(cliq.server(refresh_settings(cliq.url)), mode=era) as client:
        assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
        workspace.inject(
            Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=401,
                  body={"message": "Request was rejected because of invalid AuthToken."})
        )  # fmt: skip
        result = await client.call_tool("list_chats", {"limit": 1})
    assert result.is_error is False, result.content
    assert len(token_calls(workspace)) == 2
    assert len(api_calls(workspace)) == 3


async def test_refused_refresh_is_one_clear_error_without_a_loop(cliq: Cliq, workspace: Workspace, era: str) -> None:
    async with Client(cliq.server(refresh_settings(cliq.url, secret="wrong-secret")), mode=era) as client:
        first = await client.call_tool("list_chats", {})
        second = await client.call_tool("get_chat", {"chat_id": "2890538000000012345"})
    for result in (first, second):
        assert result.is_error is True
        text = result.content[0].text
        assert "Zoho refused" in text and "CLIQ_REFRESH_TOKEN" in text
        assert "wrong-secret" not in text and REFRESH not in text
    assert len(token_calls(workspace)) == 1  # the second call did not ask again
    assert api_calls(workspace) == []


async def test_static_token_401_is_reported_without_the_token(cliq: Cliq, workspace: Workspace) -> None:
    settings = Settings.from_env(
        {"CLIQ_API_BASE_URL": f"{cliq.url}/api/v3", "CLIQ_ACCESS_TOKEN": "1000.expired-token-value"}
    )
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("list_chats", {})
    assert result.is_error is True
    assert "401" in result.content[0].text and "expired-token-value" not in result.content[0].text
    assert token_calls(workspace) == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(method="POST", path_prefix="/oauth/v2/token", kind="html", status=200),  # a gateway page, HTTP 200
        Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=502, body={"error": "bad gateway"}),
        Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body={"access_token": ""}),
        Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body={"token_type": "Bearer"}),
    ],
    ids=["html-200", "502", "empty-access-token", "no-access-token"],
)
async def test_a_garbled_token_answer_is_not_remembered_as_a_refusal(
    cliq: Cliq, workspace: Workspace, fault: Fault
) -> None:
    workspace.inject(fault)
    async with Client(cliq.server(refresh_settings(cliq.url))) as client:
        first = await client.call_tool("list_chats", {"limit": 1})
        second = await client.call_tool("list_chats", {"limit": 1})
    assert first.is_error is True
    assert "Try again shortly" in first.content[0].text and "CLIQ_REFRESH_TOKEN" not in first.content[0].text
    assert second.is_error is False, second.content  # the next call asked Zoho again, and got a token
    assert len(token_calls(workspace)) == 2
    assert len(api_calls(workspace)) == 1
