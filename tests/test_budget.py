"""One pacing budget per Cliq account, in the shared state store: servers in one process or in several
(real `cliq-mcp --transport http` processes sharing the SQLite file, or a real redis-server) together never
send more than 90 % of Cliq's threshold in any minute, and Cliq never throttles them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
from conftest import Cliq, RedisServer, api_calls, connect, env_for, http_server
from mcp import Client
from simulated_cliq import FakeTime, RecordedRequest, Workspace, observed

from cliq_mcp.core.state_store import RedisStore, SqliteStore
from cliq_mcp.sandbox.tokens import ALL_SCOPES

LIST_ALLOWED = 27  # list_chats: 90 % of Cliq's 30 a minute


def most_in_a_minute(requests: list[RecordedRequest]) -> int:
    """The most requests that arrived within any 60 s window (by the simulation's own arrival times)."""
    times = sorted(r.at for r in requests)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 60:
            first += 1
        most = max(most, last - first + 1)
    return most


def lists(workspace: Workspace) -> list[RecordedRequest]:
    return [r for r in api_calls(workspace) if r.method == "GET" and r.path == "/api/v3/chats"]


async def test_sqlite_windows_admit_up_to_the_limit_then_say_how_long(tmp_path: Path) -> None:
    clock = FakeTime()
    store = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    admitted = []
    for _ in range(3):  # at 0, 10 and 20 s
        admitted.append(await store.admit("a:pace:x", 3, 60))
        clock.advance(10)
    clock.advance(-10)
    assert admitted == [0, 0, 0]
    assert await store.admit("a:pace:x", 3, 60) == 40  # the first leaves the window in 40 s
    assert await store.admit("a:pace:y", 3, 60) == 0  # another window is its own
    clock.advance(40)
    assert await store.admit("a:pace:x", 3, 60) == 0  # the first left: one slot, taken
    assert await store.admit("a:pace:x", 3, 60) == 10  # the second leaves in 10 s
    await store.aclose()


async def test_redis_windows_admit_up_to_the_limit_then_say_how_long(redis_url: str) -> None:
    store, replica = RedisStore(redis_url), RedisStore(redis_url)
    admitted = [await store.admit("a:pace:x", 3, 60) for _ in range(2)] + [await replica.admit("a:pace:x", 3, 60)]
    wait = await replica.admit("a:pace:x", 3, 60)
    other = await store.admit("a:pace:y", 3, 60)
    await store.aclose()
    await replica.aclose()
    assert admitted == [0, 0, 0] and 0 < wait <= 60 and other == 0


async def test_two_servers_of_one_account_share_one_budget(cliq: Cliq, workspace: Workspace) -> None:
    # Two servers in this process (on the test's fake clock) sharing the default SQLite store.
    one, two = cliq.server(cliq.settings()), cliq.server(cliq.settings())
    async with Client(one) as first, Client(two) as second:
        results = [await (first, second)[n % 2].call_tool("list_chats", {"limit": 1}) for n in range(LIST_ALLOWED + 1)]
        assert [r.is_error for r in results] == [False] * LIST_ALLOWED + [True]
        assert "Not sent" in results[-1].content[0].text and "Try again in 60 s" in results[-1].content[0].text
        cliq.time.advance(55)  # the first request leaves the window in 5 s: a short wait, taken
        waited = await second.call_tool("list_chats", {"limit": 1})
    assert waited.is_error is False and cliq.time.slept == [5]
    assert len(lists(workspace)) == LIST_ALLOWED + 1


async def test_another_account_has_its_own_budget() -> None:
    workspace = Workspace(access_tokens={"sandbox-token": ALL_SCOPES, "other-account-token": ALL_SCOPES})
    cliq = Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)))
    async with Client(cliq.server(cliq.settings())) as mine:
        for _ in range(LIST_ALLOWED):
            assert (await mine.call_tool("list_chats", {"limit": 1})).is_error is False
        refused = await mine.call_tool("list_chats", {"limit": 1})
    async with Client(cliq.server(cliq.settings(CLIQ_ACCESS_TOKEN="other-account-token"))) as theirs:
        other = await theirs.call_tool("list_chats", {"limit": 1})
    assert refused.is_error is True and other.is_error is False
    assert len(lists(workspace)) == LIST_ALLOWED + 1


async def hammer(urls: list[str], calls_each: int) -> list[Any]:
    """``calls_each`` list_chats through each server, the servers concurrently; every result."""
    results: list[Any] = []

    async def through(url: str) -> None:
        async with connect(url, "auto") as client:
            for _ in range(calls_each):
                results.append(await client.call_tool("list_chats", {"limit": 1}))

    async with anyio.create_task_group() as tg:
        for url in urls:
            tg.start_soon(through, url)
    return results


def assert_one_budget(results: list[Any], workspace: Workspace) -> None:
    sent = [r for r in results if r.is_error is False]
    paced = [r for r in results if r.is_error is True and "Not sent" in r.content[0].text]
    assert len(sent) + len(paced) == len(results), [r.content[0].text for r in results if r.is_error][:3]
    reached = lists(workspace)
    seen = f"{len(sent)} sent, {len(paced)} paced, {len(reached)} reached Cliq"
    assert paced, f"the threshold was never reached, so this tested nothing: {seen}"
    assert len(reached) == len(sent), seen  # each answer was one request; Cliq refused none
    assert most_in_a_minute(reached) <= LIST_ALLOWED, seen


async def test_three_server_processes_sharing_the_sqlite_store_stay_below_the_threshold(
    cliq_socket: Cliq, workspace: Workspace
) -> None:
    env = env_for(cliq_socket.url)  # pacing on; the default store: the state directory all three share
    with http_server(**env) as one, http_server(**env) as two, http_server(**env) as three:
        results = await hammer([one, two, three], 12)
    assert_one_budget(results, workspace)


async def test_two_server_processes_sharing_redis_stay_below_the_threshold(
    cliq_socket: Cliq, workspace: Workspace, redis_url: str
) -> None:
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_url)
    with http_server(**env) as one, http_server(**env) as two:
        results = await hammer([one, two], 18)
    assert_one_budget(results, workspace)


# --- A lost store starts full, not empty (issue #23 item 2) --------------------------------------------------------


async def test_a_deleted_state_file_counts_the_window_as_full_for_every_process(tmp_path: Path) -> None:
    clock = FakeTime()
    path = tmp_path / "state.sqlite3"
    running, fresh = SqliteStore(path, clock=clock), SqliteStore(tmp_path / "new.sqlite3", clock=clock)
    assert [await running.admit("a:pace:x", 5, 60) for _ in range(3)] == [0, 0, 0]
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):  # someone deletes the state directory
        name.unlink(missing_ok=True)
    clock.advance(5)
    # The running process reopens the new file, sees a store that forgot its three, and counts it full.
    assert await running.admit("a:pace:x", 5, 60) == 60
    started_after = SqliteStore(path, clock=clock)  # a process started now shares the new file: full too
    assert await started_after.admit("a:pace:x", 5, 60) == 60
    assert await fresh.admit("a:pace:x", 5, 60) == 0  # a first start on a new file is not held back
    clock.advance(60)
    assert await running.admit("a:pace:x", 5, 60) == 0 and await started_after.admit("a:pace:x", 5, 60) == 0
    for store in (running, fresh, started_after):
        await store.aclose()


async def test_a_restarted_empty_redis_counts_the_window_as_full(redis_server: RedisServer) -> None:
    running = RedisStore(redis_server.url)
    assert [await running.admit("a:pace:x", 5, 60) for _ in range(3)] == [0, 0, 0]
    redis_server.restart()  # killed; it comes back empty (no persistence)
    await running.aclose()  # its connection broke with the server: the next call connects again
    started_after = RedisStore(redis_server.url)  # a process that never saw the old store comes first
    first = await started_after.admit("a:pace:x", 5, 60)
    noticed = await running.admit("a:pace:x", 5, 60)  # the running one sees a new store: full for a window
    after = await started_after.admit("a:pace:x", 5, 60)  # and so does everyone else from then on
    await running.aclose()
    await started_after.aclose()
    assert first == 0 and 59 < noticed <= 60 and 59 < after <= 60


async def test_two_server_processes_hold_the_threshold_across_a_redis_restart(
    cliq_socket: Cliq, workspace: Workspace, redis_server: RedisServer
) -> None:
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_server.url)
    with http_server(**env) as one, http_server(**env) as two:
        before = await hammer([one, two], 8)
        redis_server.restart()
        after = await hammer([one, two], 10)
    assert_one_budget(before + after, workspace)
    assert all(r.is_error for r in after[2:]), "after the restart the servers counted the minute as full"


async def test_one_account_named_is_one_budget_whatever_credentials_configure_it(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """Issue #22 item 6 / #23 item 5: an access token on one server and refresh-token credentials on another
    are two accounts to the store, unless CLIQ_ACCOUNT names them as one."""
    refreshing = {"CLIQ_ACCESS_TOKEN": "", "CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
                  "CLIQ_REFRESH_TOKEN": "sandbox-refresh"}  # fmt: skip
    named = {"CLIQ_ACCOUNT": "tim.harrison@zylker.com"}
    async with Client(cliq.server(cliq.settings(**named))) as by_token:
        for _ in range(LIST_ALLOWED):
            assert (await by_token.call_tool("list_chats", {"limit": 1})).is_error is False
    async with Client(cliq.server(cliq.settings(**named, **refreshing))) as by_refresh:
        refused = await by_refresh.call_tool("list_chats", {"limit": 1})
    async with Client(cliq.server(cliq.settings(**refreshing))) as unnamed:
        other = await unnamed.call_tool("list_chats", {"limit": 1})
    assert refused.is_error is True and "Not sent" in refused.content[0].text  # one budget, named as one
    assert other.is_error is False  # unnamed, the refresh credentials are another account to the store
