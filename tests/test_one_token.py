"""One access token per account: every process and replica of the account shares the token fetched last
(the state store keeps it: owner-only in SQLite, sealed with the guard secret in Redis), one process fetches at
a time, and Zoho's throttle of the token endpoint is remembered for every process until its window ends.
Zoho allows 10 token requests per refresh token per 10 minutes, then blocks it for every server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import Cliq, env_for, outside_env
from mcp import Client
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.core.state_store import RedisStore

CREDENTIALS = {"CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
               "CLIQ_REFRESH_TOKEN": "sandbox-refresh"}  # fmt: skip


def token_requests(workspace: Workspace) -> int:
    return sum(r.path == "/oauth/v2/token" for r in workspace.requests)


def refresh_env(url: str, state: Path) -> dict[str, str]:
    env = {**env_for(url, XDG_STATE_HOME=str(state)), **CREDENTIALS}
    del env["CLIQ_ACCESS_TOKEN"]
    return env


def test_processes_started_together_fetch_one_token(cliq_socket: Cliq, workspace: Workspace, tmp_path: Path) -> None:
    """Three `cliq-mcp call`s at once, then three more: one token request for all six."""

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "cliq_mcp", "call", "list_chats", '{"limit": 1}'],
                                env={**outside_env(), **refresh_env(cliq_socket.url, tmp_path)}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip

    for _ in range(2):
        running = [start() for _ in range(3)]
        for process in running:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0 and json.loads(out)["chats"], err
    assert token_requests(workspace) == 1
    assert len({r.headers["authorization"] for r in workspace.requests if r.path.startswith("/api/")}) == 1


async def test_a_throttled_token_endpoint_is_not_asked_again_by_any_process(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    too_many = {"error": "Access Denied", "error_description": "You have made too many requests"}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=too_many))
    settings = Settings.from_env(refresh_env(cliq.url, tmp_path))
    async with Client(cliq.server(settings)) as first:
        refused = await first.call_tool("list_chats", {"limit": 1})
    async with Client(cliq.server(settings)) as second:  # another process of the account, a minute later
        cliq.time.advance(60)
        also = await second.call_tool("list_chats", {"limit": 1})
    assert refused.is_error and also.is_error and token_requests(workspace) == 1
    assert "not asked again until its window ends" in also.content[0].text
    cliq.time.advance(600)  # the window has ended: asked again, once
    async with Client(cliq.server(settings)) as later:
        assert (await later.call_tool("list_chats", {"limit": 1})).is_error is False
    assert token_requests(workspace) == 2


async def test_at_most_ten_token_requests_in_ten_minutes_for_the_account(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """Each new token is refused by Cliq at once (revoked meanwhile): processes ask again, but never an 11th
    time within Zoho's window."""
    settings = Settings.from_env(refresh_env(cliq.url, tmp_path))
    refused = {"message": "Request was rejected because of invalid AuthToken."}
    workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=401, body=refused,
                           times=40))  # fmt: skip
    for _ in range(8):  # processes of the account, one after another
        async with Client(cliq.server(settings)) as client:
            await client.call_tool("list_chats", {"limit": 1})
    assert token_requests(workspace) <= 10
    workspace.faults[0].times = workspace.faults[0].taken  # the rest of the 401s are not needed


async def test_redis_keeps_the_token_sealed_with_the_guard_secret(redis_url: str) -> None:
    import redis.asyncio

    key = b"guard-secret-0123456789"
    one, replica, stranger = RedisStore(redis_url, key=key), RedisStore(redis_url, key=key), RedisStore(redis_url)
    await one.put("acct:token", "1000.the-access-token", 120)
    shared = await replica.get("acct:token")
    assert shared is not None and shared[0] == "1000.the-access-token" and 100 < shared[1] <= 120
    assert await stranger.get("acct:token") is None  # no key, nothing shared
    raw = redis.asyncio.Redis.from_url(redis_url)
    stored = [await raw.get(k) for k in await raw.keys("cliq-mcp:kept:*")]
    assert stored and all(b"the-access-token" not in value for value in stored)
    await raw.aclose()
    for store in (one, replica, stranger):
        await store.aclose()


async def test_a_write_held_up_before_it_left_is_not_sent_not_may_have_been(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """The token endpoint stalls: the close never leaves. It is "not sent", never "may have been applied"."""
    from conftest import Q2, writes

    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="stall"))
    env = {**refresh_env(cliq.url, tmp_path), "CLIQ_TIMEOUT": "0.3", "CLIQ_GUARD": "unattended",
           "CLIQ_UNATTENDED_CHATS": Q2, "CLIQ_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # fmt: skip
    async with Client(cliq.server(Settings.from_env(env))) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    said = result.content[0].text
    assert result.is_error is True and "Not sent" in said and "may" not in said, said
    assert writes(workspace) == []
