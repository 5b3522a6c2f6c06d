"""Every error shape Cliq uses becomes one short tool error that says what to do next."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Cliq, api_calls
from mcp import Client
from simulated_cliq import FakeTime, Fault, Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.tools.catalogue import CATALOGUE

Q2 = "2890538000000099999"
ALICE = "2890538000000012345"


async def test_unknown_chat_is_not_found(client: Client) -> None:
    result = await client.call_tool("get_chat", {"chat_id": "1234567890"})
    assert result.is_error is True
    text = result.content[0].text
    assert "404" in text and "list_chats" in text


async def test_documented_refusal_carries_cliqs_code_and_message(client: Client) -> None:
    result = await client.call_tool("add_chat_members", {"chat_id": ALICE, "user_ids": ["55743307"]})
    assert result.is_error is True
    assert "one_to_one_chat_add_member_not_allowed" in result.content[0].text


@pytest.mark.era_independent
@pytest.mark.parametrize(
    ("status", "body", "needles"),
    [
        (400, {"code": "invalid_inputs", "message": "Bad title"}, ["invalid_inputs", "Bad title", "Correct"]),
        (400, {"error": {"code": "invalid.inputs.submitted", "message": "Check sort_by"}},
         ["invalid.inputs.submitted", "Check sort_by"]),
        (401, {"message": "Request was rejected because of invalid AuthToken."}, ["401", "invalid AuthToken"]),
        (403, {"code": "invalid_access", "message": "No permission"}, ["403", "ZohoCliq.Chats.READ"]),
        (429, {"error": {"code": "rate_limit_exceeded", "message": "Too many"}}, ["throttled", "10 minutes"]),
        (400, {"code": "request_limit_exceeded", "message": "You have exceeded the URL throttle limits."},
         ["throttled", "10 minutes", "Do not retry"]),
        (500, {"error": {"code": "chat_operation_failed", "message": "boom"}}, ["500", "Cliq's side"]),
        (503, {"code": "service_unavailable", "message": "down"}, ["503", "service_unavailable"]),
    ],
)  # fmt: skip
async def test_error_shapes(client: Client, workspace: Workspace, status: int, body: Any, needles: list[str]) -> None:
    attempts = 3 if status >= 500 else 1  # reads are retried on 5xx, and only then
    workspace.inject(
        Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=status, body=body, times=attempts)
    )
    result = await client.call_tool("list_chats", {})
    assert result.is_error is True
    text = result.content[0].text
    for needle in needles:
        assert needle in text, text
    assert "Error executing tool" not in text and "Traceback" not in text
    assert len(api_calls(workspace)) == attempts
    assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False  # still serving


@pytest.mark.era_independent
async def test_gateway_html_page_is_a_server_error(client: Client, workspace: Workspace) -> None:
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="html", status=502, times=3))
    result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is True
    text = result.content[0].text
    assert "502" in text and "<html" not in text.lower()


async def test_retry_after_is_reported(client: Client, workspace: Workspace) -> None:
    body = {"error": {"code": "rate_limit_exceeded", "message": "x"}}
    workspace.inject(
        Fault(
            method="GET",
            path_prefix="/api/v3/chats",
            kind="status",
            status=429,
            body=body,
            headers={"Retry-After": "7"},
        )
    )
    result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert "Retry after 7 s" in result.content[0].text


@pytest.mark.era_independent
async def test_stalled_cliq_gives_a_clear_timeout_and_the_server_keeps_serving(
    cliq_socket: Cliq, workspace: Workspace, era: str
) -> None:
    settings = cliq_socket.settings(CLIQ_TIMEOUT="0.3")
    stall = workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="stall", times=3))
    async with Client(cliq_socket.server(settings), mode=era) as client:
        result = await client.call_tool("get_chat", {"chat_id": Q2})
        assert result.is_error is True
        assert "did not answer in time" in result.content[0].text
        assert stall.taken == 3 and len(cliq_socket.time.slept) == 2  # three attempts, two backoffs
        assert (await client.call_tool("get_chat", {"chat_id": Q2})).is_error is False


@pytest.mark.era_independent
async def test_unreachable_cliq_is_a_clear_error(fake_time: FakeTime, era: str) -> None:
    cliq = Cliq("http://127.0.0.1:9", None, fake_time)  # nothing listens on the discard port
    async with Client(cliq.server(cliq.settings()), mode=era) as client:
        result = await client.call_tool("list_chats", {})
    assert result.is_error is True
    assert "Could not reach Cliq" in result.content[0].text


async def test_no_credentials_names_the_variables_and_sandbox(cliq: Cliq, workspace: Workspace, era: str) -> None:
    settings = Settings.from_env({"CLIQ_API_BASE_URL": f"{cliq.url}/api/v3"})
    async with Client(cliq.server(settings), mode=era) as client:
        assert len((await client.list_tools()).tools) == len(CATALOGUE)
        result = await client.call_tool("list_chats", {})
    assert result.is_error is True
    text = result.content[0].text
    for needle in ("CLIQ_ACCESS_TOKEN", "CLIQ_CLIENT_ID", "CLIQ_REFRESH_TOKEN", "--sandbox"):
        assert needle in text
    assert api_calls(workspace) == []
