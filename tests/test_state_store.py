"""The shared state store: a claim succeeds once across processes (SQLite) and across replicas (a real
redis-server on a free loopback port), and a confirmation used through one server is used for all."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import redis
from conftest import Q2, Cliq, RedisServer, outside_env, writes
from mcp import Client
from simulated_cliq import Workspace

from cliq_mcp.core.state_store import RedisStore, SqliteStore, open_store

KEYS = [f"account:token:nonce-{n}" for n in range(30)]
# Each process claims every key as fast as it can and prints the ones it won.
CLAIMER = """
import anyio, json, sys, time
from cliq_mcp.core.state_store import open_store
async def main():
    store = open_store(sys.argv[1])
    won = [key for key in json.loads(sys.argv[2]) if await store.claim(key, time.time() + 600)]
    await store.aclose()
    print(json.dumps(won))
anyio.run(main)
"""


def race(url: str, processes: int = 3) -> list[list[str]]:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, url, json.dumps(KEYS)], stdout=subprocess.PIPE, text=True, env=outside_env()
        )
        for _ in range(processes)
    ]
    return [json.loads(racer.communicate(timeout=60)[0]) for racer in racers]


def test_three_processes_sharing_the_sqlite_file_each_key_is_claimed_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.sqlite3"
    won = race(str(path))
    assert sorted(key for keys in won for key in keys) == sorted(KEYS)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


async def test_an_expired_claim_can_be_made_again(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteStore(tmp_path / "state.sqlite3", clock=lambda: now[0])
    assert await store.claim("k", 1010.0) is True
    assert await store.claim("k", 1010.0) is False
    now[0] = 1011.0  # past its time: it is forgotten, and so the store does not grow without bound
    assert await store.claim("k", 1100.0) is True
    await store.aclose()


def test_three_processes_sharing_redis_each_key_is_claimed_once(redis_url: str) -> None:
    won = race(redis_url)
    assert sorted(key for keys in won for key in keys) == sorted(KEYS)


async def test_redis_claims_expire_and_survive_reconnecting(redis_url: str) -> None:
    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    assert await store.claim("k", time.time() + 600) is True
    await store.aclose()  # each MCP session's end closes it; the next use connects again
    assert await store.claim("k", time.time() + 600) is False
    assert await store.claim("old", time.time() - 1) is False  # already past: never claimable
    other = RedisStore(redis_url)
    assert await other.claim("k", time.time() + 600) is False  # another replica sees the same claim
    await store.aclose()
    await other.aclose()


async def test_a_token_used_through_one_replica_is_used_for_every_replica(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    # Two servers (say on two machines) share CLIQ_GUARD_SECRET and a Redis store; nothing else.
    env = {"CLIQ_GUARD": "trust-host", "CLIQ_GUARD_SECRET": "guard-secret-0123456789", "CLIQ_STATE_URL": redis_url}
    async with Client(cliq.server(cliq.settings(**env))) as one:
        preview = await one.call_tool("close_chat", {"chat_id": Q2})
        token = preview.structured_content["preview"]["confirmation_token"]
        done = await one.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    async with Client(cliq.server(cliq.settings(**env))) as two:
        again = await two.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
    assert done.is_error is False, done.content
    assert again.is_error is True and "already used" in again.content[0].text
    assert len(writes(workspace)) == 1


async def test_replicas_racing_one_token_act_once(cliq: Cliq, workspace: Workspace, redis_url: str) -> None:
    env = {"CLIQ_GUARD": "trust-host", "CLIQ_GUARD_SECRET": "guard-secret-0123456789", "CLIQ_STATE_URL": redis_url}
    async with Client(cliq.server(cliq.settings(**env))) as first:
        preview = await first.call_tool("close_chat", {"chat_id": Q2})
    token = preview.structured_content["preview"]["confirmation_token"]
    outcomes: list[bool] = []

    async def redeem() -> None:
        async with Client(cliq.server(cliq.settings(**env))) as replica:
            result = await replica.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
            outcomes.append(result.is_error is False)

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(redeem)
    assert sorted(outcomes) == [False, False, False, False, True]
    assert len(writes(workspace)) == 1


async def test_a_redis_that_may_evict_keys_is_refused_and_nothing_is_sent(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """An evicted claim would let a used yes act again, an evicted window let more through than Cliq allows."""
    evicting = RedisServer(tmp_path, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    try:
        settings = cliq.settings(CLIQ_STATE_URL=evicting.url, CLIQ_GUARD_SECRET="guard-secret-0123456789")
        async with Client(cliq.server(settings)) as client:
            refused = await client.call_tool("list_chats", {"limit": 1})
        assert refused.is_error and "maxmemory-policy allkeys-lru" in refused.content[0].text
        assert "noeviction" in refused.content[0].text and workspace.requests == []
        redis.Redis(port=evicting.port).config_set("maxmemory-policy", "noeviction")
        async with Client(cliq.server(settings)) as client:
            assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
    finally:
        evicting.stop()


async def test_take_gives_a_value_to_one_of_many_processes_and_used_to_the_rest(redis_url: str, tmp_path: Path) -> None:
    """What a yes rests on is used up in one atomic step: of many takers at once, each with its own connection
    (processes of one account), exactly one gets the value; after it, the key holds 'used' for everyone."""
    stores = {
        "redis": [RedisStore(redis_url, key=b"guard-secret-0123456789") for _ in range(6)],
        "sqlite": [SqliteStore(tmp_path / "state.sqlite3") for _ in range(6)],
    }
    for kind, group in stores.items():
        await group[0].put("acct:yes:close:1", "mark|until|nonce|line", 60)
        got: list[str | None] = []

        async def take(store: RedisStore | SqliteStore, into: list[str | None]) -> None:
            into.append(await store.take("acct:yes:close:1", 60))

        async with anyio.create_task_group() as tg:
            for store in group:
                tg.start_soon(take, store, got)
        assert sorted(got, key=str) == ["mark|until|nonce|line", *["used"] * 5], (kind, got)
        assert await group[1].get("acct:yes:close:1") is not None
        for store in group:
            await store.aclose()
