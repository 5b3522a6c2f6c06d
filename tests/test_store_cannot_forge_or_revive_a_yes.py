"""What the shared state store holds cannot stand in for a person's yes: someone who reaches Redis without the
guard secret cannot write an answer or a kept yes the server believes, and an earlier copy of the state file put
back does not bring a used approval back to life. A real redis-server and a real SQLite file; the server in
process, asked by a 2026-07-28 host that shows approval pages (URL elicitation)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import redis
from conftest import Q2, Cliq, RedisServer, approve_with, writes
from mcp import Client
from mcp.types import ElicitResult
from simulated_cliq import Workspace

from cliq_mcp.cliq.responses import CliqChatList, read_answer
from cliq_mcp.core.state_store import RedisStore
from cliq_mcp.guard.questions import _chat_line

SECRET = "replicas-share-this-secret-0123"


async def test_an_answer_written_into_redis_without_the_key_is_no_click(
    url_only_client: None, cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_APPROVAL_WAIT="0.3")
    forged: list[str] = []

    async def host(context: Any, params: Any) -> Any:
        r = redis.Redis.from_url(redis_url)  # someone with network access to Redis, not the guard secret
        pages = [k.decode() for k in r.scan_iter(match="cliq-mcp:kept:*:approval:*")]
        for name in (page for page in pages if ":" not in page.rsplit(":approval:", 1)[1]):
            r.set(f"{name}:end", b"plain:approved", px=600_000)
            forged.append(name)
        return ElicitResult(action="accept")  # URL mode: the page is shown; nobody clicks on it

    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert len(forged) == 1
    assert result.is_error and "Not done yet" in result.content[0].text, result.content
    assert writes(workspace) == []


async def test_a_kept_yes_written_into_redis_without_the_key_is_not_believed(
    url_only_client: None, cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET)
    asked: list[str] = []

    async def host(context: Any, params: Any) -> Any:
        asked.append(params.url)
        return ElicitResult(action="decline")

    async with httpx.AsyncClient(transport=cliq.transport, base_url=cliq.url) as peek:  # the chat as anyone sees it
        listed = await peek.get("/api/v3/chats", params={"chat_ids": Q2, "limit": 100},
                                headers={"Authorization": "Zoho-oauthtoken sandbox-token"})  # fmt: skip
    chat = next(c for c in read_answer(CliqChatList, listed.json(), "").chats if c.chat_id == Q2)
    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        await client.call_tool("get_chat", {"chat_id": Q2})  # the account's keys are now in Redis
        r = redis.Redis.from_url(redis_url)
        peeking = RedisStore(redis_url)
        mark = await peeking.lost_mark()  # a kept yes as the guard writes one, in plain
        await peeking.aclose()
        r.set(f"cliq-mcp:kept:{settings.account}:yes:close_chat:{Q2}",
              f"plain:{mark}|forged|{_chat_line(Q2, chat)}".encode(), px=200_000)  # fmt: skip
        result = await client.call_tool("close_chats", {"chat_ids": [Q2]})
    assert len(asked) == 1 and result.is_error, result.content  # the person was asked, and said no
    assert writes(workspace) == []


async def test_an_earlier_copy_of_the_state_file_does_not_revive_a_used_approval(
    url_only_client: None, cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    state = Path(os.environ["XDG_STATE_HOME"]) / "cliq-mcp" / "state.sqlite3"
    settings = cliq.settings(CLIQ_APPROVAL_WAIT="0.3", CLIQ_PACING="off")
    urls: list[str] = []

    async def host(context: Any, params: Any) -> Any:
        urls.append(params.url)  # the page is shown; the person clicks a little later
        return ElicitResult(action="accept")

    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        waiting = await client.call_tool("clear_chat_history", {"chat_id": Q2})
        async with httpx.AsyncClient() as person:
            await approve_with(person, urls[0])  # one click on Approve
        backup = tmp_path / "backup.sqlite3"  # a backup (or a snapshot of the machine) taken now
        with sqlite3.connect(state) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)
        acted = await client.call_tool("clear_chat_history", {"chat_id": Q2})  # the same call: acts on it
        for side in ("-wal", "-shm"):
            Path(f"{state}{side}").unlink(missing_ok=True)
        os.replace(backup, state)  # the earlier copy is put back: the approval in it is approved, unused
        again = await client.call_tool("clear_chat_history", {"chat_id": Q2})
    assert "Not done yet" in waiting.content[0].text and acted.is_error is False, acted.content
    assert again.is_error and len(urls) == 2, again.content  # asked anew (a new page), not acted on the old click
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def click_then_act(cliq: Cliq, settings: Any, urls: list[str], between: Any = None) -> None:
    """A page shown; one click on Approve (``between`` runs after it); the same call made again acts on it."""

    async def host(context: Any, params: Any) -> Any:
        urls.append(params.url)
        return ElicitResult(action="accept")

    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        waiting = await client.call_tool("clear_chat_history", {"chat_id": Q2})
        async with httpx.AsyncClient() as person:
            await approve_with(person, urls[0])
        if between is not None:
            between()
        acted = await client.call_tool("clear_chat_history", {"chat_id": Q2})
    assert "Not done yet" in waiting.content[0].text and acted.is_error is False, acted.content


async def call_again_in_a_new_process(cliq: Cliq, settings: Any, urls: list[str]) -> Any:
    """The same call from a server process started afresh (Claude Desktop relaunched, a replica restarted)."""

    async def host(context: Any, params: Any) -> Any:
        urls.append(params.url)
        return ElicitResult(action="accept")

    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        return await client.call_tool("clear_chat_history", {"chat_id": Q2})


async def test_a_used_page_whose_claim_is_deleted_in_redis_is_not_approved_again(
    url_only_client: None, cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_APPROVAL_WAIT="0.3",
                             CLIQ_PACING="off")  # fmt: skip
    urls: list[str] = []
    await click_then_act(cliq, settings, urls)
    r = redis.Redis.from_url(redis_url)  # someone with Redis access, not the secret, deletes how the page ended
    gone = [k for k in r.scan_iter(match="cliq-mcp:kept:*:approval:*:*") if not k.endswith(b":asked")]
    assert gone and r.delete(*gone)
    again = await call_again_in_a_new_process(cliq, settings, urls)
    assert again.is_error, again.content  # the page is open again at most: only a new click could approve it
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def test_an_earlier_state_file_does_not_revive_a_used_page_for_a_new_process(
    url_only_client: None, cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    state = Path(os.environ["XDG_STATE_HOME"]) / "cliq-mcp" / "state.sqlite3"
    settings = cliq.settings(CLIQ_APPROVAL_WAIT="0.3", CLIQ_PACING="off")
    backup = tmp_path / "backup.sqlite3"

    def back_up() -> None:
        with sqlite3.connect(state) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)

    urls: list[str] = []
    await click_then_act(cliq, settings, urls, between=back_up)
    for side in ("-wal", "-shm"):
        Path(f"{state}{side}").unlink(missing_ok=True)
    os.replace(backup, state)  # put back while no server runs: the next one never saw the later file
    again = await call_again_in_a_new_process(cliq, settings, urls)
    assert again.is_error and len(urls) == 2, again.content
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]


async def test_a_redis_back_from_its_snapshot_does_not_revive_a_used_page_for_new_replicas(
    url_only_client: None, cliq: Cliq, workspace: Workspace, redis_server: RedisServer
) -> None:
    settings = cliq.settings(CLIQ_STATE_URL=redis_server.url, CLIQ_GUARD_SECRET=SECRET, CLIQ_APPROVAL_WAIT="0.3",
                             CLIQ_PACING="off")  # fmt: skip
    urls: list[str] = []
    await click_then_act(cliq, settings, urls, between=lambda: redis.Redis.from_url(redis_server.url).save())
    redis_server.restart(keep_snapshot=True)  # comes back from the snapshot taken between click and act
    again = await call_again_in_a_new_process(cliq, settings, urls)
    assert again.is_error and len(urls) == 2, again.content
    assert [(w.method, w.path) for w in writes(workspace)] == [("PUT", f"/api/v3/chats/{Q2}")]
