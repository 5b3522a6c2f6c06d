"""The streamable HTTP transport, as a real `cliq-mcp --transport http` process, through the SDK's HTTP
client in both eras: stateless replicas, bearer token, Origin checks, health probe."""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from conftest import (
    ALICE,
    HTTP_TOKEN,
    Q2,
    Cliq,
    answering,
    approve_with,
    connect,
    env_for,
    http_process,
    http_server,
    outside_env,
    writes,
)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitResult
from simulated_cliq import Workspace

from cliq_mcp.serve.http_app import HTTP_PROTOCOL, NoDelayHTTP, WholeBody
from cliq_mcp.tools.catalogue import CATALOGUE

TOKEN = "http-token-0123456789abcdefghijklmnop"


# One server of each kind for the module (each start costs a second of CPU). Only the tests that confirm a
# close change its sandbox, and each closes Q2 once, on a server of its own kind.
@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server("--sandbox", **home_of_its_own(tmp_path_factory)) as url:
        yield url


@pytest.fixture(scope="module")
def token_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server("--sandbox", CLIQ_MCP_HTTP_TOKEN=TOKEN, **home_of_its_own(tmp_path_factory)) as url:
        yield url


def home_of_its_own(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A module's server starts before any test's own HOME (own_home): it gets one of its own, so that it never
    writes to the real audit log or state directory of whoever runs the tests."""
    home = tmp_path_factory.mktemp("module-home")
    return {"HOME": str(home), "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}


async def test_http_serves_the_tools_in_both_eras(era: str, sandbox_url: str) -> None:
    url = sandbox_url
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "sandbox": True}
    async with connect(url, era) as client:
        assert len((await client.list_tools()).tools) == len(CATALOGUE)
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is False and "Q2 Product Review" in result.content[0].text


async def test_http_confirmation_in_both_eras(era: str, sandbox_url: str) -> None:
    seen: list[object] = []
    url = sandbox_url
    async with connect(url, era, elicitation_callback=answering("accept", {"confirm": True}, seen)) as client:
        # Each era its own chat: the module's server is shared, and a closed chat is not asked about again.
        result = await client.call_tool("close_chat", {"chat_id": Q2 if era == "auto" else ALICE})
        if era == "auto":  # 2026-07-28: asked inside the result, no back-channel needed
            assert result.is_error is False and len(seen) == 1
        else:  # stateless HTTP has no back-channel for handshake-era questions: nobody can be asked
            assert result.is_error is True and "nobody can be asked" in result.content[0].text
            assert seen == [] and "confirmation_token" not in result.content[0].text


@pytest.mark.era_independent
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


async def test_bearer_token_is_required_when_configured(era: str, token_url: str) -> None:
    url = token_url
    assert httpx.get(f"{url}/healthz").status_code == 200  # probes need no token
    missing = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    wrong = httpx.post(f"{url}/mcp", json={}, headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert TOKEN not in missing.text + wrong.text
    async with connect(url, era, {"Authorization": f"Bearer {TOKEN}"}) as client:
        assert len((await client.list_tools()).tools) == len(CATALOGUE)


def test_a_foreign_origin_is_refused(sandbox_url: str) -> None:
    url = sandbox_url
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


def test_an_account_is_not_served_over_http_without_a_token_even_on_loopback(cliq_socket: Cliq) -> None:
    # On loopback too: any process of any user on the machine could connect, call the tools as the account's
    # owner, and answer its own confirmation questions (form elicitation) or open its own approval page.
    env = {k: v for k, v in {**outside_env(), **env_for(cliq_socket.url)}.items() if k != "CLIQ_MCP_HTTP_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "--transport", "http", "--host", "127.0.0.1", "--port", "1"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert (
        done.returncode == 2 and "bearer token, on loopback too" in done.stderr and "CLIQ_MCP_HTTP_TOKEN" in done.stderr
    )


def test_a_short_http_token_is_refused(cliq_socket: Cliq) -> None:
    # On loopback the token is what keeps other users of the machine out: one guessed in a few tries keeps no one.
    env = {**outside_env(), **env_for(cliq_socket.url), "CLIQ_MCP_HTTP_TOKEN": "7"}
    done = subprocess.run([sys.executable, "-m", "cliq_mcp", "--transport", "http", "--port", "1"],
                          capture_output=True, text=True, timeout=30, env=env)  # fmt: skip
    assert (
        done.returncode == 2 and "too short (1 characters)" in done.stderr and "7" not in done.stderr.split(")")[0][-3:]
    )


async def test_over_http_the_approval_page_is_sent_as_a_url_elicitation(url_only_client: None, token_url: str) -> None:
    # A 2026-07-28 host with URL-mode elicitation only: the page is served under the HTTP app's own path.
    seen: list[Any] = []

    async def host(context: Any, params: Any) -> Any:
        from mcp.types import ElicitResult

        seen.append(params.url)
        async with httpx.AsyncClient() as person:  # the person's browser: no bearer token, its own checks
            await approve_with(person, params.url)
        return ElicitResult(action="accept")

    url = token_url
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(url, "auto", headers=headers, elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is False, result.content
    (page,) = seen
    assert page.startswith(f"{url}/approvals/")


async def test_bearer_scheme_in_any_case_local_origins_with_a_token_and_405_for_a_stateless_get(token_url: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    url = token_url
    port = url.rsplit(":", 1)[1]
    for scheme in ("bearer", "BEARER", "BeArEr"):
        async with connect(url, "auto", {"Authorization": f"{scheme} {TOKEN}"}) as client:
            assert len((await client.list_tools()).tools) == len(CATALOGUE)
    refused = [
        httpx.post(f"{url}/mcp", json=body, headers={**accept, "Authorization": value}).status_code
        for value in (f"Basic {TOKEN}", f"bearer{TOKEN}", f"bearer {TOKEN[:-1]}", "bearer")
    ]
    bearer = {**accept, "Authorization": f"Bearer {TOKEN}"}
    local = [
        httpx.post(f"{url}/mcp", json=body, headers={**bearer, "Origin": origin}).status_code
        for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}", "http://localhost:5173")
    ]
    foreign = [
        httpx.post(f"{url}/mcp", json=body, headers={**bearer, "Origin": origin}).status_code
        for origin in ("http://evil.example", f"http://localhost.evil.example:{port}", "http://localhost:1x")
    ]
    # Before, the SDK held an idle event stream open here forever; the timeout is only a safety net.
    stream = httpx.get(f"{url}/mcp", headers={"Accept": "text/event-stream", **bearer}, timeout=10)
    no_token = httpx.get(f"{url}/mcp", timeout=10)
    assert refused == [401, 401, 401, 401]
    assert local == [200, 200, 200] and foreign == [403, 403, 403]
    assert stream.status_code == 405 and stream.headers["allow"] == "POST"
    assert no_token.status_code == 401  # the token is checked before anything else


def test_several_workers_with_approval_pages_but_no_state_store_are_refused() -> None:
    # No HOME, no XDG_STATE_HOME, no CLIQ_STATE_URL: nowhere the workers could share a page.
    env = {k: v for k, v in outside_env().items() if k not in ("HOME", "XDG_STATE_HOME")}
    done = subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "--sandbox", "--transport", "http", "--port", "1", "--workers", "2"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and "approval page" in done.stderr and "CLIQ_STATE_URL" in done.stderr


class Balancer(httpx2.AsyncBaseTransport):
    """A load balancer in front of replicas: every request (a fresh connection each) goes to the port ``to``
    names, whatever address the client used; the Host header stays the public one."""

    def __init__(self, port: int) -> None:
        self.to = port
        self._next = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(port=self.to)
        return await self._next.handle_async_request(request)

    async def aclose(self) -> None:
        await self._next.aclose()


@asynccontextmanager
async def through(
    url: str, transport: httpx2.AsyncBaseTransport | None = None, **options: Any
) -> AsyncIterator[Client]:
    """The SDK's client, each request on a fresh connection (so a paused worker holds none of them)."""
    fresh = httpx2.Limits(max_keepalive_connections=0)
    bearer = {"Authorization": f"Bearer {HTTP_TOKEN}"}
    http = httpx2.AsyncClient(limits=fresh, transport=transport, headers=bearer)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="auto", **options) as client:
        yield client


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes of ``parent`` (not multiprocessing's resource tracker)."""
    for _ in range(200):  # bounded: they start within seconds
        found = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except (OSError, ValueError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
                found.append(int(entry.name))
        if len(found) == 2:
            return sorted(found)
        time.sleep(0.05)
    raise AssertionError("the two workers did not start")


@contextmanager
def only(serving: int, paused: int) -> Iterator[None]:
    """Pause one worker (SIGSTOP) so that new connections are accepted by the other, then resume it."""
    os.kill(paused, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(paused, signal.SIGCONT)


async def test_two_workers_share_confirmations_and_one_pacing_budget(cliq_socket: Cliq, workspace: Workspace) -> None:
    # No CLIQ_GUARD_SECRET: the server makes one for its workers. Pacing on, the default SQLite store.
    env = env_for(cliq_socket.url, CLIQ_GUARD="trust-host")
    with http_process("--workers", "2", **env) as (url, proc):
        first, second = worker_pids(proc.pid)
        with only(first, paused=second):
            async with connect(url, "auto") as client:
                preview = await client.call_tool("close_chat", {"chat_id": Q2})
                one = [await client.call_tool("list_chats", {"limit": 1}) for _ in range(14)]
        with only(second, paused=first):
            async with connect(url, "auto") as client:
                token = preview.structured_content["preview"]["confirmation_token"]
                done = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
                two = [await client.call_tool("list_chats", {"limit": 1}) for _ in range(14)]
    assert done.is_error is False, done.content  # a token from one worker, redeemed at the other
    # 27 list requests a minute for the account: the preview's check that the chat is still open took one.
    assert [r.is_error for r in one + two] == [False] * 26 + [True] * 2
    assert "Not sent" in two[-1].content[0].text
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]
    assert len([r for r in workspace.requests if r.path == "/api/v3/chats"]) == 27


async def test_two_workers_serve_the_approval_page_under_the_default_policy(
    url_only_client: None, cliq_socket: Cliq, workspace: Workspace
) -> None:
    # CLIQ_GUARD=ask (the default), the default SQLite store: the first round (which opens the page) at one
    # worker; the person's browser and the retry that waits for the click at the other.
    seen: list[str] = []
    with http_process("--workers", "2", **env_for(cliq_socket.url)) as (url, proc):
        first, second = worker_pids(proc.pid)

        async def host(context: Any, params: Any) -> Any:
            seen.append(params.url)
            os.kill(second, signal.SIGCONT)  # from now on only the other worker accepts connections
            os.kill(first, signal.SIGSTOP)
            async with httpx.AsyncClient() as person:
                await approve_with(person, params.url)
            return ElicitResult(action="accept")

        os.kill(second, signal.SIGSTOP)
        try:
            async with through(url, elicitation_callback=host) as client:
                result = await client.call_tool("close_chat", {"chat_id": Q2})
                again = await client.call_tool("close_chat", {"chat_id": Q2})
        finally:
            os.kill(first, signal.SIGCONT)
            os.kill(second, signal.SIGCONT)
    assert result.is_error is False, result.content
    assert len(seen) == 1 and "already closed" in again.content[0].text.lower(), again.content
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def test_replicas_on_one_redis_share_approval_pages_and_each_yes_acts_once(
    url_only_client: None, cliq_socket: Cliq, workspace: Workspace, redis_url: str
) -> None:
    # Two processes on a real redis-server behind one public address. The page is opened by a call at replica A,
    # answered in the browser through replica B, and the retry waiting for the click is served by A again.
    public = "http://127.0.0.1:9"  # the balancer's address: nothing listens there, the Balancer routes
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET="replicas-share-this-secret-0123",
                  CLIQ_MCP_PUBLIC_URL=public)  # fmt: skip
    with http_process(**env) as (url_a, _), http_process(**env) as (url_b, _):
        a, b = (int(u.rsplit(":", 1)[1]) for u in (url_a, url_b))
        balancer, browser = Balancer(a), Balancer(b)
        seen: list[str] = []

        async def host(context: Any, params: Any) -> Any:
            seen.append(params.url)
            async with httpx2.AsyncClient(transport=browser) as person:  # the person's browser, routed to B
                await approve_with(person, params.url)  # type: ignore[arg-type]  # the same API as httpx's
            return ElicitResult(action="accept")

        async with through(public, balancer, elicitation_callback=host) as client:
            result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error is False, result.content
    assert len(seen) == 1 and seen[0].startswith(f"{public}/approvals/")
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def test_sandbox_workers_each_serve_their_own_workspace_unthrottled_when_told() -> None:
    # The benchmark's load: `--sandbox --workers 2`, each worker with its own simulated Cliq in-process, which
    # by default throttles as Cliq does (get_chat: 60 a minute, then a 5-minute lock; tests/test_sandbox_app
    # shows it); CLIQ_SANDBOX_RATE_LIMITS=off lifts it, as `--no-rate-limits` does for `python -m cliq_mcp.sandbox`.
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_chat", "arguments": {"chat_id": Q2}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    seen: list[list[bool]] = []
    env = {"CLIQ_GUARD": "elicit", "CLIQ_PACING": "off", "CLIQ_SANDBOX_RATE_LIMITS": "off"}
    with http_process("--sandbox", "--workers", "2", **env) as (url, proc):
        for serving, paused in itertools.permutations(worker_pids(proc.pid)):
            with only(serving, paused=paused):
                async with httpx.AsyncClient(base_url=url, headers=headers) as http:  # TCP_NODELAY: no 40 ms waits
                    seen.append(['"isError":false' in (await http.post("/mcp", json=call)).text for _ in range(61)])
    assert seen == [[True] * 61] * 2  # both workers, each past the 60 a minute a throttling simulation allows


@contextmanager
def uvicorn_on_loopback(app: Any, http: Any = HTTP_PROTOCOL, **options: Any) -> Iterator[Any]:
    """A real uvicorn server in this process, on a loopback socket made as uvicorn's ``Config.bind_socket``
    makes it (proto 0, as for ``--workers``); the server, its address on ``server.address``."""
    import uvicorn

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, lifespan="off", log_config=None, **options))
    server.address = listening.getsockname()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # bounded: up within milliseconds
            if server.started:
                break
            time.sleep(0.01)
        yield server
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()


def test_connections_to_a_socket_made_as_for_workers_get_tcp_nodelay() -> None:
    # uvicorn makes the --workers socket with proto 0, and asyncio then leaves Nagle on for the connections it
    # accepts (with http="h11" this reads 0, uvicorn 0.54): each answer (headers, event, end of stream) waited
    # ~40 ms for the client's delayed ACK.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    with uvicorn_on_loopback(app) as server, socket.create_connection(server.address, timeout=5):
        for _ in range(500):  # bounded: accepted within milliseconds
            if server.server_state.connections:
                break
            time.sleep(0.01)
        (connection,) = server.server_state.connections
        accepted = connection.transport.get_extra_info("socket")
        nodelay = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert nodelay


def read_until(sock: socket.socket, end: bytes) -> bytes:
    got = b""
    while not got.endswith(end):
        more = sock.recv(4096)
        assert more, got  # closed before the whole answer
        got += more
    return got


def test_a_connection_that_sends_no_whole_request_head_is_closed() -> None:
    # uvicorn arms its keep-alive timeout only after a response, and any byte disarms it: a connection that
    # sent nothing, or half a head, was held open forever. The deadline is short here; HEAD_TIMEOUT_S in use.
    head_timeout = 0.25

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":  # an answer that takes longer than the head's deadline
            await asyncio.sleep(1.6 * head_timeout)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def request(path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    with uvicorn_on_loopback(app, functools.partial(NoDelayHTTP, head_timeout=head_timeout)) as server:
        connect = functools.partial(socket.create_connection, server.address, timeout=5)  # 5 s: a bound, no more
        with connect() as silent, connect() as partial, connect() as reused, connect() as slow, connect() as drip:
            partial.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pa")
            reused.sendall(request("/"))
            assert read_until(reused, b"ok").startswith(b"HTTP/1.1 200")
            reused.sendall(b"GET / HT")  # after an answer: uvicorn's keep-alive timeout is disarmed by it
            slow.sendall(request("/slow"))
            # A head sent a byte at a time, each long before the deadline: the deadline is for the whole head.
            for byte in b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 200:  # bounded: 200 bytes, 50 ms apart at most
                if select.select([drip], [], [], 0.05)[0]:
                    break
                drip.sendall(bytes([byte]))
            closed = [sock.recv(1024) for sock in (silent, partial, reused, drip)]
            answered = read_until(slow, b"ok")  # a request in progress is not cut short
        fresh = httpx.get(f"http://{server.address[0]}:{server.address[1]}/", timeout=5)
    assert closed == [b""] * 4
    assert answered.startswith(b"HTTP/1.1 200")
    assert (fresh.status_code, fresh.text) == (200, "ok")


def mcp_post_head(host: str, length: int) -> bytes:
    return (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_request_body_cut_short_is_one_log_line_and_nothing_done() -> None:
    # The SDK logged "Error handling POST request" with starlette's ClientDisconnect traceback for it.
    with http_process("--sandbox") as (url, proc):
        host = url.removeprefix("http://")
        address = host.split(":")
        with socket.create_connection((address[0], int(address[1])), timeout=5) as cut:
            cut.sendall(mcp_post_head(host, 1000) + b'{"jsonrpc"')  # 10 of the 1000 bytes, then gone
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200  # still serving
        proc.terminate()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
    logged = [line for line in err.splitlines() if not line.startswith("cliq-mcp: ")]  # the CLI's own lines
    assert len(logged) == 1, err
    assert "POST /mcp: the client closed the connection after 10 of the 1000 bytes" in logged[0]
    assert "Traceback" not in err


def test_a_request_body_that_stops_coming_is_answered_408_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    # Its head came, so the head's deadline is past; without a deadline for the body the connection was held.
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with uvicorn_on_loopback(WholeBody(app, timeout=0.25)) as server:
        host = f"{server.address[0]}:{server.address[1]}"
        with socket.create_connection(server.address, timeout=5) as stalled:  # 5 s: a bound, no more
            stalled.sendall(mcp_post_head(host, 1000) + b'{"jsonrpc"')
            answer = read_until(stalled, b"}")
            closed = stalled.recv(1024)
        whole = httpx.post(f"http://{host}/mcp", content=b'{"jsonrpc": "2.0"}', timeout=5)
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive whole within 0.25 s" in answer
    assert closed == b""
    assert (whole.status_code, seen) == (200, [b'{"jsonrpc": "2.0"}'])  # a body that came: given whole to the app
    (line,) = [r.getMessage() for r in caplog.records if r.name == "cliq_mcp.serve.http_app"]
    assert line == "POST /mcp: the client sent only 10 of the 1000 bytes of its request body in 0.25 s; answered 408"


def test_a_request_body_over_the_limit_is_answered_413_and_never_reaches_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with uvicorn_on_loopback(WholeBody(app, most=1000)) as server:
        url = f"http://{server.address[0]}:{server.address[1]}/mcp"
        big = httpx.post(url, content=b"x" * 5000, timeout=5)
        small = httpx.post(url, content=b"x" * 1000, timeout=5)
    assert big.status_code == 413 and "over 1000 bytes" in big.text
    assert small.status_code == 200 and seen == [b"x" * 1000]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "cliq_mcp.serve.http_app"]
    assert line == "POST /mcp: its request body is over 1000 bytes; answered 413"
