"""The real executable over stdio, in both eras: against the loopback simulation, and in --sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from conftest import EVERY_TOOL, Q2, READ_TOOLS, Cliq, answering, api_calls, env_for, outside_env
from mcp import Client, StdioServerParameters
from simulated_cliq import Workspace

from cliq_mcp.tools.catalogue import CATALOGUE


def params(*args: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    base = outside_env()  # the audit log in the test's own state directory (own_home)
    return StdioServerParameters(command=sys.executable, args=["-m", "cliq_mcp", *args], env={**base, **(env or {})})


async def test_stdio_against_cliq_over_http(cliq_socket: Cliq, workspace: Workspace, era: str) -> None:
    async with Client(params(env=env_for(cliq_socket.url)), mode=era) as client:
        assert len((await client.list_tools()).tools) == len(CATALOGUE)
        result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert result.is_error is False, result.content
    assert "Q2 Product Review" in result.content[0].text
    (sent,) = api_calls(workspace)
    assert (sent.method, sent.path, sent.headers["authorization"]) == (
        "GET", f"/api/v3/chats/{Q2}", "Zoho-oauthtoken sandbox-token",
    )  # fmt: skip


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
        env=outside_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    for message in messages:
        proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    # Requests are served concurrently: answers come in any order (list_chats waits on the pacing store).
    answers = sorted((json.loads(proc.stdout.readline()) for _ in range(3)), key=lambda a: a["id"])
    # communicate() closes stdin, then waits: the server must exit on its own. The timeout is only a safety
    # net against a hang (TimeoutExpired fails the test); no time is asserted.
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[1]["result"]["isError"] is False and answers[2]["result"]["isError"] is True
    assert out.strip() == b""  # nothing else was written to stdout
    assert b"Traceback" not in err
    assert b"sandbox" in err  # logs and notices go to stderr


async def test_stdio_guard_flags_and_token_flow(era: str, tmp_path: Any) -> None:
    audit = tmp_path / "audit.jsonl"
    args = ("--sandbox", "--exclude-tools", "write", "--audit-log", str(audit), "--guard", "trust-host")
    async with Client(params(*args), mode=era) as client:  # no elicitation, like Claude Desktop today
        names = {t.name for t in (await client.list_tools()).tools}
        first = await client.call_tool("close_chat", {"chat_id": Q2})
        token = first.structured_content["preview"]["confirmation_token"]
        done = await client.call_tool("close_chat", {"chat_id": Q2, "confirmation_token": token})
        listed = await client.call_tool("list_chats", {"closed": True, "limit": 100})
    assert "rename_chat" not in names and "close_chat" in names
    assert done.is_error is False, done.content
    assert Q2 in {c["chat_id"] for c in listed.structured_content["chats"]}
    assert [json.loads(line)["outcome"] for line in audit.read_text().splitlines()] == ["preview", "sending", "acted"]


async def test_stdio_read_only(era: str) -> None:
    async with Client(params("--sandbox", "--read-only"), mode=era) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        refused = await client.call_tool("close_chat", {"chat_id": Q2})
    assert names == READ_TOOLS
    assert refused.is_error is True
