"""The streamable HTTP transport, as a real `cliq-mcp --transport http` process, through the SDK's HTTP
client in both eras: stateless replicas, bearer token, Origin checks, health probe."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import httpx2
import pytest
from conftest import Q2, Cliq, answering, approve_with, env_for, outside_env, writes
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from simulated_cliq import Workspace

from cliq_mcp.operations import CATALOGUE

TOKEN = "http-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(*args: str, **env: str) -> Iterator[str]:
    port = free_port()
    base = outside_env() | {"CLIQ_AUDIT_LOG": "off"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", *args, "--transport", "http", "--port", str(port)],
        env={**base, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("the HTTP server did not start")
        yield url
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        assert b"Traceback" not in err, err.decode()


@asynccontextmanager
async def connect(url: str, era: str, headers: dict[str, str] | None = None, **options: Any) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers or {})
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=era, **options) as client:
        yield client


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
