"""What the shared state store holds cannot stand in for a person's yes: someone who reaches Redis without the
guard secret cannot write an answer or a kept yes the server believes, and an earlier copy of the state file put
back does not bring a used approval back to life. Real redis-server, real `cliq-mcp --transport http`."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import redis
from conftest import Q2, Cliq, approve_with, connect, env_for, http_process, writes
from mcp.types import ElicitResult
from simulated_cliq import Workspace
from test_http import through

from cliq_mcp.guard.questions import _chat_line
from cliq_mcp.responses import ChatList, parse

SECRET = "replicas-share-this-secret-0123"


def account_in(r: redis.Redis) -> str:
    return next(k.decode().split(":")[1] for k in r.scan_iter("cliq-mcp:*") if len(k.decode().split(":")[1]) == 16)


async def test_an_answer_written_into_redis_without_the_key_is_no_click(
    url_only_client: None, cliq_socket: Cliq, workspace: Workspace, redis_url: str
) -> None:
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_APPROVAL_WAIT="1")
    forged: list[str] = []
    with http_process(**env) as (url, _):

        async def host(context: Any, params: Any) -> Any:
            r = redis.Redis.from_url(redis_url)  # someone with network access to Redis, not the guard secret
            for name in (k.decode() for k in r.scan_iter(match="cliq-mcp:kept:*:approval:*")):
                if not name.rsplit(":approval:", 1)[1].count(":") and r.set(
                    f"{name}:end", b"plain:approved", px=600_000
                ):
                    forged.append(name)
            return ElicitResult(action="accept")  # URL mode: the page is shown; nobody clicks on it

        async with through(url, elicitation_callback=host) as client:
            result = await client.call_tool("close_chat", {"chat_id": Q2})
    assert len(forged) == 1, result.content
    assert result.is_error and "Not done yet" in result.content[0].text, (result.content, forged)
    assert writes(workspace) == []


async def test_a_kept_yes_written_into_redis_without_the_key_is_not_believed(
    url_only_client: None, cliq_socket: Cliq, workspace: Workspace, redis_url: str
) -> None:
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET)
    asked: list[str] = []
    with http_process(**env) as (url, _):

        async def host(context: Any, params: Any) -> Any:
            asked.append(params.url)
            return ElicitResult(action="decline")

        async with through(url, elicitation_callback=host) as client:
            await client.call_tool("get_chat", {"chat_id": Q2})  # the account's keys are now in Redis
            r = redis.Redis.from_url(redis_url)
            listed = httpx.get(f"{cliq_socket.url}/api/v3/chats", params={"chat_ids": Q2, "limit": 100},
                               headers={"Authorization": "Zoho-oauthtoken sandbox-token"}).json()  # fmt: skip
            chat = next(c for c in parse(ChatList, listed, "").chats if c.chat_id == Q2)
            mark = (r.get("cliq-mcp:lost-at") or b"0").decode()  # the line as the guard keeps it, in plain
            r.set(f"cliq-mcp:kept:{account_in(r)}:yes:close_chat:{Q2}",
                  f"plain:{mark}|forged|{_chat_line(Q2, chat)}".encode(), px=200_000)  # fmt: skip
            result = await client.call_tool("close_chats", {"chat_ids": [Q2]})
    assert len(asked) == 1 and result.is_error, result.content  # the person was asked, and said no
    assert writes(workspace) == []


async def test_an_earlier_copy_of_the_state_file_does_not_revive_a_used_approval(
    url_only_client: None, cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    state = Path(os.environ["XDG_STATE_HOME"]) / "cliq-mcp" / "state.sqlite3"
    urls: list[str] = []
    with http_process(**env_for(cliq_socket.url, CLIQ_APPROVAL_WAIT="1", CLIQ_PACING="off")) as (url, _):

        async def host(context: Any, params: Any) -> Any:
            urls.append(params.url)  # the page is shown; the person clicks a little later
            return ElicitResult(action="accept")

        async with connect(url, "auto", elicitation_callback=host) as client:
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
