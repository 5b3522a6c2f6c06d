"""Shared fixtures: the simulated Cliq, and our server pointed at it.

A test asks for the simulated Cliq in one of two ways:

* ``cliq``: in-process (``httpx.ASGITransport``), the default for everything our server does over HTTP;
* ``cliq_socket``: on a loopback socket, where a socket matters: dropped connections, stalls and
  trickles as a real client sees them, and subprocesses (stdio, HTTP transport, ``cliq-mcp call``).

Both are a ``Cliq``: its ``url``, and ``server(settings)`` builds our server to reach it, with the
test's ``FakeTime`` for retries, deadlines and confirmation tokens (no real sleeps). Nothing of ours is
mocked: tests assert what reached the simulated Cliq (``workspace.requests``) and what an MCP client
received. A fault a test injects that no request ever triggers fails the test.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import simulated_cliq
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from mcp.types import (
    ClientCapabilities,
    ElicitationCapability,
    ElicitRequestParams,
    ElicitResult,
    TextContent,
    UrlElicitationCapability,
)
from simulated_cliq import FakeTime, RecordedRequest, Workspace, observed, serve_in_background

from cliq_mcp.core.config import Settings
from cliq_mcp.serve.server import build_server

Q2 = "2890538000000099999"  # "Q2 Product Review - Design, Engineering & QA", a group chat
ALICE = "2890538000000012345"  # a direct chat
ALICE_LAST = "1773813859592_51531973059"

# One valid call of every tool, against the simulated workspace.
EVERY_TOOL: list[tuple[str, dict[str, Any]]] = [
    ("list_chats", {"limit": 5}),
    ("search_chats", {"name": "Q2"}),
    ("get_chat", {"chat_id": Q2, "include": "last_message_info"}),
    ("list_chat_members", {"chat_id": Q2}),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Sandbox"}),
    ("mark_chats_read", {"chats": [{"chat_id": ALICE, "message_id": ALICE_LAST}]}),
    ("clear_unread_counts", {"chat_ids": [ALICE]}),
    ("rename_chat", {"chat_id": Q2, "title": "Q2 Review"}),
    ("set_chat_history", {"chat_id": Q2, "history_status": "enabled"}),
    ("mark_chat_read", {"chat_id": ALICE, "message_id": ALICE_LAST}),
    ("mark_chat_unread", {"chat_id": ALICE, "message_id": ALICE_LAST}),
    ("add_chat_members", {"chat_id": Q2, "user_ids": ["55743307"]}),
    ("fork_chat", {"chat_id": ALICE, "message_id": ALICE_LAST, "title": "Fork", "include_participants": True}),
    ("send_typing_activity", {"chat_id": ALICE, "action": "text_entered"}),
    ("mute_chat", {"chat_id": Q2}),
    ("unmute_chat", {"chat_id": Q2}),
    ("remove_chat_members", {"chat_id": Q2, "user_ids": ["55743307"]}),
    ("clear_chat_history", {"chat_id": ALICE}),
    ("close_chat", {"chat_id": ALICE}),
    ("leave_chat", {"chat_id": Q2}),
    ("plan_tidy", {"inactive_days": 30, "max_chats": 5}),
    ("preview_policy", {"policy": "[limits]\nmax_acts = 5\n[close]\ninactive_days = 365\n"}),
    ("close_chats", {"chat_ids": ["2890538000000067890"]}),
    ("find_people", {"query": "alice"}),
]

# The read tools, in the catalogue's order: what --read-only serves.
READ_TOOLS = [
    "list_chats",
    "search_chats",
    "get_chat",
    "list_chat_members",
    "plan_tidy",
    "preview_policy",
    "find_people",
]

ERAS = ["auto", "legacy"]  # 2026-07-28 clients, and handshake-era clients such as Claude Desktop


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``era_independent`` exercise what lies below the protocol (validation, retries, the exact
    request sent): they run once, in the 2026-07-28 era, instead of once per era."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        twice = item.get_closest_marker("era_independent") and callspec and callspec.params.get("era") == "legacy"
        (dropped if twice else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker more than cores: many tests spend part of their time waiting on a subprocess, a socket or
    a browser, and the spare worker keeps the cores busy meanwhile (on 2 cores: ~77 s instead of ~95 s)."""
    return (os.cpu_count() or 1) + 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Every secret the suite's settings use; none may appear in anything our server logs, at any level.
SUITE_SECRETS = ("sandbox-token", "sandbox-secret", "sandbox-refresh", "wrong-secret", "expired-token-value",
                 "guard-secret-0123456789", "0123456789abcdef0123")  # fmt: skip


@pytest.fixture(autouse=True)
def no_secret_is_logged(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    if request.path.name in ("test_sandbox_app.py", "test_simulated_cliq.py"):
        return  # those tests drive the simulated Cliq with their own HTTP client, not our server
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        if record.name.startswith(("cliq_mcp.sandbox", "uvicorn")):
            continue  # the simulated Cliq is the other side, not our server
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        leaked = [secret for secret in SUITE_SECRETS if secret in text]
        assert not leaked, f"secret logged by {record.name}: {record.getMessage()[:200]}"


@pytest.fixture(autouse=True)
def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fresh HOME (and XDG directories) per test, inherited by the subprocesses it starts: parallel
    tests never share an audit log, a state store or a credentials file."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for name, where in (("XDG_CONFIG_HOME", ".config"), ("XDG_STATE_HOME", ".local/state"),
                        ("XDG_DATA_HOME", ".local/share"), ("XDG_CACHE_HOME", ".cache"),
                        ("XDG_RUNTIME_DIR", "run")):  # fmt: skip
        monkeypatch.setenv(name, str(home / where))
    # No test opens a real browser by accident: `false` fails, so the approval page cannot be shown unless
    # a test points BROWSER at a stand-in for the desktop.
    monkeypatch.setenv("BROWSER", "false")


@pytest.fixture(autouse=True)
def every_fault_fires_and_cliq_as_documented(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that injected a fault no request ever triggered: it tested nothing with it. Fail a test in
    which our server sent a request Zoho's document does not allow, or the simulated Cliq answered with more
    (or other) than the document allows (tests/cliq_contract.py). The tests that drive the simulated Cliq with
    requests of their own (bad ones on purpose) are held to the second only."""
    simulated_cliq.made.clear()
    yield
    made, simulated_cliq.made[:] = list(simulated_cliq.made), []
    untaken = [fault for ws in made for fault in ws.untaken()]
    assert not untaken, f"injected faults that never fired: {untaken}"
    own_requests = request.path.name in ("test_sandbox_app.py", "test_simulated_cliq.py")
    sent = [] if own_requests else [b for ws in made for b in ws.request_breaches]
    answered = [b for ws in made for b in ws.answer_breaches]
    assert not sent, f"requests outside Zoho's document: {sorted(set(sent))[:8]}"
    assert not answered, f"simulated answers outside Zoho's document: {sorted(set(answered))[:8]}"


@pytest.fixture
def workspace(request: pytest.FixtureRequest, fake_time: FakeTime) -> Workspace:
    # real_now: the workspace runs on the fake clock too, so Cliq's rate windows move when the server waits.
    return Workspace(clock=fake_time) if request.node.get_closest_marker("real_now") else Workspace()


@pytest.fixture
def fake_time(request: pytest.FixtureRequest) -> FakeTime:
    # real_now: from the real time now, as the chats' ages are (housekeeping judges them by age).
    return FakeTime(time.time()) if request.node.get_closest_marker("real_now") else FakeTime()


@dataclass
class Cliq:
    """How a test reaches the simulated Cliq: a base URL, and the transport to it (None: a real socket)."""

    url: str
    transport: httpx.AsyncBaseTransport | None
    time: FakeTime = field(default_factory=FakeTime)

    def settings(self, **env: str) -> Settings:
        # The test's own state directory (see own_home): used confirmations are remembered there.
        return Settings.from_env(env_for(self.url, XDG_STATE_HOME=os.environ["XDG_STATE_HOME"], **env))

    def server(self, settings: Settings) -> MCPServer[Any]:
        """Our server for ``settings``, reaching this Cliq, on ``time``'s clock: waits are instant."""
        return build_server(
            settings, transport=self.transport, sleep=self.time.sleep, clock=self.time, wall_clock=self.time
        )


@pytest.fixture
def cliq(workspace: Workspace, fake_time: FakeTime) -> Cliq:
    """The simulated Cliq in-process: no socket, no server thread."""
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time)


@pytest.fixture
def cliq_socket(workspace: Workspace, fake_time: FakeTime) -> Iterator[Cliq]:
    """The simulated Cliq on a loopback socket, for the tests where a socket matters."""
    with serve_in_background(workspace) as url:
        yield Cliq(url, None, fake_time)


def outside_env() -> dict[str, str]:
    """This process's environment without any CLIQ_* variable, for the subprocesses a test starts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")}


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {
        "CLIQ_API_BASE_URL": f"{url}/api/v3",
        "CLIQ_ACCOUNTS_URL": url,
        "CLIQ_ACCESS_TOKEN": "sandbox-token",
        **extra,
    }


@pytest.fixture
def settings(cliq: Cliq) -> Settings:
    return cliq.settings()


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(cliq: Cliq, settings: Settings, era: str) -> AsyncIterator[Client]:
    async with Client(cliq.server(settings), mode=era) as c:
        yield c


def api_calls(workspace: Workspace) -> list[RecordedRequest]:
    """The requests that reached the Cliq API (not the token endpoint)."""
    return [r for r in workspace.requests if r.path.startswith("/api/v3/")]


def writes(workspace: Workspace) -> list[RecordedRequest]:
    return [r for r in api_calls(workspace) if r.method != "GET"]


def answering(action: str, content: dict[str, Any] | None = None, seen: list[ElicitRequestParams] | None = None):
    """An elicitation callback that records the question and answers with ``action``."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        if seen is not None:
            seen.append(params)
        return ElicitResult(action=action, content=content)

    return callback


@pytest.fixture
def url_only_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that declares URL-mode elicitation only (the SDK's own client always declares both modes)."""
    built = ClientSession._build_capabilities

    def url_only(self: ClientSession, version: str) -> ClientCapabilities:
        declared = built(self, version)
        if declared.elicitation is None:
            return declared
        return declared.model_copy(update={"elicitation": ElicitationCapability(url=UrlElicitationCapability())})

    monkeypatch.setattr(ClientSession, "_build_capabilities", url_only)


async def approve_with(person: httpx.AsyncClient, url: str) -> None:
    """What a person's browser does: open the page (taking its lock), then press Approve."""
    page = await person.get(url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and csrf
    origin = "/".join(url.split("/", 3)[:3])
    done = await person.post(url, data={"csrf": csrf.group(1), "decision": "approve"}, headers={"Origin": origin})
    assert done.status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(*args: str, **env: str) -> Iterator[str]:
    """A real `cliq-mcp --transport http` process on a free loopback port (more flags in ``args``); its URL."""
    with http_process(*args, **env) as (url, _):
        yield url


HTTP_TOKEN = (
    "test-bearer-token-0123456789abcdefghijkl"  # what a server with an account is started with, and clients send
)


@contextmanager
def http_process(*args: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``http_server``, and the process itself. A server with an account (not ``--sandbox``) needs a bearer
    token: ``HTTP_TOKEN`` unless the test sets its own."""
    port = free_port()
    base = outside_env()  # the audit log in the test's own state directory (own_home)
    if "--sandbox" not in args:
        env = {"CLIQ_MCP_HTTP_TOKEN": HTTP_TOKEN, **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", *args, "--transport", "http", "--port", str(port)],
        env={**base, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, "the HTTP server exited"
                time.sleep(0.1)
        else:
            raise AssertionError("the HTTP server did not start")
        yield url, proc
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        assert b"Traceback" not in err, err.decode()


@asynccontextmanager
async def connect(url: str, era: str, headers: dict[str, str] | None = None, **options: Any) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP to ``url``/mcp (with ``HTTP_TOKEN`` unless ``headers`` are given;
    a server without a token ignores it)."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"} if headers is None else headers)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=era, **options) as client:
        yield client


class RedisServer:
    """A real redis-server (Debian's, installed by .ci/run) on a free loopback port, keeping nothing on disk:
    ``restart`` kills it and starts an empty one on the same port, as a Redis without persistence comes back."""

    def __init__(self, directory: Path, *options: str) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (apt-get install redis-server)"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._directory = directory
        self._argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                      "--dir", str(directory), *options]  # fmt: skip
        self._process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        server = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20  # a safety net only
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return server
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "redis-server did not start"
                time.sleep(0.02)

    def restart(self, keep_snapshot: bool = False) -> None:
        """Kill it and start it again: empty, or (``keep_snapshot``) from the snapshot a SAVE wrote."""
        self._process.kill()
        self._process.wait(timeout=10)
        if not keep_snapshot:
            (self._directory / "dump.rdb").unlink(missing_ok=True)
        self._process = self._start()

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


def text(result: Any) -> str:
    """What the model reads of a tool result: its text."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    """The audit log a test's server wrote with ``guarded`` settings."""
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def guarded(cliq: Cliq, tmp_path: Path, **env: str) -> Settings:
    """Settings whose audit log and state store are the test's own (``audit_lines`` reads the log)."""
    return Settings.from_env(
        env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"), XDG_STATE_HOME=str(tmp_path), **env)
    )


CHROMIUM = "/usr/bin/chromium"  # Debian's, installed by .ci/run: absent means failing, not skipping
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium per test module (which sets a module-scoped ``anyio_backend`` for it)."""
    from playwright.async_api import async_playwright  # only the page tests pay for importing it

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
