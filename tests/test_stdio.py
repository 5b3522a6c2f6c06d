"""The real executable over stdio, in both eras: against the loopback simulation, and in --sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from conftest import answering, api_calls, env_for
from mcp import Client, StdioServerParameters

from cliq_mcp.sandbox import Workspace

Q2 = "2890538000000099999"
ALICE = "2890538000000012345"
ALICE_LAST = "1773813859592_51531973059"


def params(*args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")}
    return StdioServerParameters(command=sys.executable, args=["-m", "cliq_mcp", *args], env={**base, **(env or {})})


async def test_stdio_against_cliq_over_http(cliq_url: str, workspace: Workspace, era: str) -> None:
    async with Client(params(env=env_for(cliq_url)), mode=era) as client:
        assert len((await client.list_tools()).tools) == 20
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is False, result.content
    assert "Q2 Product Review" in result.content[0].text
    (sent,) = api_calls(workspace)
    assert (sent.method, sent.path, sent.headers["authorization"]) == (
        "GET", f"/api/v3/chats/{Q2}", "Zoho-oauthtoken sandbox-token",
    )  # fmt: skip


EVERY_TOOL: list[tuple[str, dict[str, Any]]] = [
    ("list_chats", {"limit": 5}),
    ("search_chats", {"title": "Q2"}),
    ("get_chat", {"chat_id": Q2, "include": "last_message_info"}),
    ("list_chat_members", {"chat_id": Q2}),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Sandbox"}),
    ("mark_chats_read", {"chats": [{"chat_id": ALICE, "last_message_id": ALICE_LAST}]}),
    ("clear_unread_counts", {"chat_ids": [ALICE]}),
    ("rename_chat", {"chat_id": Q2, "title": "Q2 Review"}),
    ("set_chat_history", {"chat_id": Q2, "history_status": "enabled"}),
    ("mark_chat_read", {"chat_id": ALICE, "last_message_id": ALICE_LAST}),
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
]


async def test_sandbox_answers_every_tool(era: str) -> None:
    callback = answering("accept", {"confirm": True})
    async with Client(params("--sandbox"), mode=era, elicitation_callback=callback) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {name for name, _ in EVERY_TOOL}
        for name, args in EVERY_TOOL:
            result = await client.call_tool(name, args)
            assert result.is_error is False, (name, result.content)
            assert result.structured_content, name


def test_stdout_carries_only_protocol_and_closing_stdin_ends_the_server() -> None:
    def call(n: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments}}

    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(2, "list_chats", {"limit": 2}),
        call(3, "get_chat", {"chat_id": "x/y"}),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "--sandbox", "--log-level", "DEBUG"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")},
    )
    assert proc.stdin is not None and proc.stdout is not None
    for message in messages:
        proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    answers = [json.loads(proc.stdout.readline()) for _ in range(3)]
    started = time.monotonic()
    out, err = proc.communicate(timeout=10)  # closes stdin, then waits for the exit
    assert time.monotonic() - started < 2.0
    assert proc.returncode == 0
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[1]["result"]["isError"] is False and answers[2]["result"]["isError"] is True
    assert out.strip() == b""  # nothing else was written to stdout
    assert b"Traceback" not in err
    assert b"sandbox" in err  # logs and notices go to stderr
