"""Secrets (access tokens, client secret, refresh token, guard secret) never appear in anything the
server emits: stdout, stderr at DEBUG, tool results, audit lines. The real executable, real OAuth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Q2, outside_env
from simulated_cliq import Fault, Workspace, serve_in_background

CLIENT_SECRET = "S3cr3t-client-7f1c2d"
REFRESH = "1000.R3fresh-9a8b7c6d"
GUARD = "Gu4rd-secret-0011223344"


def run_session(env: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], str, str]:
    def call(n: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments}}

    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    lines = [{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}]  # fmt: skip
    lines += [call(i + 1, name, args) for i, (name, args) in enumerate(calls)]
    base = outside_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "--log-level", "DEBUG"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**base, **env},
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(json.dumps(line) + "\n" for line in lines).encode())
    proc.stdin.flush()
    # Keep stdin open until every answer is in: closing it ends the session. Calls run concurrently.
    answers = sorted((json.loads(proc.stdout.readline()) for _ in range(len(calls) + 1)), key=lambda a: a["id"])
    rest, errors = proc.communicate(timeout=30)
    out, err = "\n".join(json.dumps(a) for a in answers) + rest.decode(), errors.decode()
    return answers, out, err


def test_no_secret_in_anything_the_server_emits(tmp_path: Path) -> None:
    workspace = Workspace(client_secret=CLIENT_SECRET, refresh_token=REFRESH)
    audit = tmp_path / "audit.jsonl"
    with serve_in_background(workspace) as url:
        env = {
            "CLIQ_API_BASE_URL": f"{url}/api/v3", "CLIQ_ACCOUNTS_URL": url, "CLIQ_CLIENT_ID": "sandbox-client",
            "CLIQ_CLIENT_SECRET": CLIENT_SECRET, "CLIQ_REFRESH_TOKEN": REFRESH, "CLIQ_GUARD_SECRET": GUARD,
            "CLIQ_AUDIT_LOG": str(audit), "CLIQ_GUARD": "trust-host",
        }  # fmt: skip
        expired = {"message": "Request was rejected because of invalid AuthToken."}
        workspace.inject(
            Fault(method="GET", path_prefix=f"/api/v3/chats/{Q2}", kind="status", status=401, body=expired)
        )
        good, out1, err1 = run_session(env, [
            ("list_chats", {"limit": 2}),
            ("get_chat", {"chat_id": Q2}),  # a 401: refresh and retry
            ("get_chat", {"chat_id": "../oauth"}),
            ("rename_chat", {"chat_id": Q2, "title": "Audited"}),
            ("close_chat", {"chat_id": Q2}),  # preview with a confirmation token
            ("add_chat_members", {"chat_id": "2890538000000012345", "user_ids": ["55743307"]}),  # Cliq refuses
        ])  # fmt: skip
        bad, out2, err2 = run_session({**env, "CLIQ_CLIENT_SECRET": "Wr0ng-" + CLIENT_SECRET}, [("list_chats", {})])
    access_tokens = {r.headers["authorization"].split()[-1] for r in workspace.requests if "authorization" in r.headers}
    assert len(access_tokens) == 2  # two were minted: at start and after the 401
    assert [a["result"]["isError"] for a in good[1:]] == [False, False, True, False, False, True]
    assert bad[1]["result"]["isError"] is True and "Zoho refused" in bad[1]["result"]["content"][0]["text"]
    emitted = "\n".join([out1, err1, out2, err2, audit.read_text()])
    assert "DEBUG" in err1  # the scan covers the most talkative log level
    for secret in [CLIENT_SECRET, REFRESH, GUARD, *access_tokens]:
        assert secret not in emitted
