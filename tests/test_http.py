"""The streamable HTTP transport, as a real `cliq-mcp --transport http` process, through the SDK's HTTP
client in both eras: stateless replicas, bearer token, Origin checks, health probe."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from conftest import Q2, Cliq, answering, approve_with, connect, env_for, http_server, outside_env, writes
from simulated_cliq import Workspace

from cliq_mcp.operations import CATALOGUE

TOKEN = "http-token-0123456789abcdef"


async def test_http_serves_the_tools_in_both_eras(era: str) -> None:
    with http_server("--sandbox") as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "sandbox": True}
        async with connect(url, era) as client:
            assert len((await client.list_tools()).tools) == len(CATALOGUE)
            result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is False and "Q2 Product Review" in result.content[0].text


async def test_http_confirmation_in_both_eras(era: str) -> None:
    seen: list[object] = []
    with http_server("--sandbox") as url:
        async with connect(url, era, elicitation_callback=answering("accept", {"confirm": True}, seen)) as client:
            result = await client.call_tool("close_chat", {"chat_id": Q2})
            if era == "auto":  # 2026-07-28: asked inside the result, no back-channel needed
                assert result.is_error is False and len(seen) == 1
            else:  # stateless HTTP has no back-channel for handshake-era questions: nobody can be asked
                assert result.is_error is True and "nobody can be asked" in result.content[0].text
                assert seen == [] and "confirmation_token" not in result.content[0].text


async def test_replicas_sharing_the_guard_secret_accept_each_others_tokens(
    cliq_socket: Cliq, workspace: Workspace, era: str
) -> None:
    env = env_for(cliq_socket.url, CLIQ_GUARD_SECRET="replica-secret-0123456789", CLIQ_GUARD="trust-host")
    with http_server(**env) as one, http_server(**env) as two:
        async with connect(one, era) as first:
            token = (await first.call_tool("close_chat", {"chat_id": Q2})).structured_content["preview"]
        async with connect(two, era) as second:
            done = await second.call_tool(
                "close_chat", {"chat_id": Q2, "confirmation_token": token["confirmation_token"]}
            )
    assert done.is_error is False, done.content
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def test_bearer_token_is_required_when_configured(era: str) -> None:
    with http_server("--sandbox", CLIQ_MCP_HTTP_TOKEN=TOKEN) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200  # probes need no token
        missing = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        wrong = httpx.post(f"{url}/mcp", json={}, headers={"Authorization": "Bearer nope"})
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert TOKEN not in missing.text + wrong.text
        async with connect(url, era, {"Authorization": f"Bearer {TOKEN}"}) as client:
            assert len((await client.list_tools()).tools) == len(CATALOGUE)


def test_a_foreign_origin_is_refused() -> None:
    with http_server("--sandbox") as url:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        headers = {"Origin": "http://evil.example", "Accept": "application/json, text/event-stream"}
        refused = httpx.post(f"{url}/mcp", json=body, headers=headers)
        rebound = httpx.post(f"{url}/mcp", json=body, headers={"Host": "evil.example", "Accept": headers["Accept"]})
    assert refused.status_code == 403 and rebound.status_code in (403, 421)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_binding_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    base = outside_env()
    done = subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "--sandbox", "--transport", "http", "--host", host, "--port", "1"],
        capture_output=True, text=True, timeout=30, env=base,
    )  # fmt: skip
    assert done.returncode == 2 and "CLIQ_MCP_HTTP_TOKEN" in done.stderr


async def test_over_http_the_approval_page_is_sent_as_a_url_elicitation(url_only_client: None) -> None:
    # A 2026-07-28 host with URL-mode elicitation only: the page is served under the HTTP app's own path.
    seen: list[Any] = []

    async def host(context: Any, params: Any) -> Any:
        from mcp.types import ElicitResult

        seen.append(params.url)
        async with httpx.AsyncClient() as person:  # the person's browser: no bearer token, its own checks
            await approve_with(person, params.url)
        return ElicitResult(action="accept")

    with http_server("--sandbox", CLIQ_MCP_HTTP_TOKEN=TOKEN) as url:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(url, "auto", headers=headers, elicitation_callback=host) as client:
            result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is False, result.content
    (page,) = seen
    assert page.startswith(f"{url}/approvals/")
