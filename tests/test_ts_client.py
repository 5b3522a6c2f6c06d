"""The approval page's wait fits a client of the official TypeScript SDK with its default request timeout (60 s):
the call ends with the server's own "not done yet" answer, never with the client giving up (issue #22 item 3).
Node and the SDK come from scripts/test.sh (npm, into .ci/node)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import outside_env

from cliq_mcp.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SDK = ROOT / ".ci" / "node" / "node_modules" / "@modelcontextprotocol" / "sdk"
SCRIPT = Path(__file__).with_name("ts") / "default_timeout.mjs"


def test_a_waiting_approval_page_answers_a_typescript_client_before_its_default_timeout(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node and SDK.is_dir(), "Node.js and @modelcontextprotocol/sdk are needed (scripts/test.sh installs them)"
    env = {
        **outside_env(), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"),
        "CLIQ_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
        "BROWSER": "true",  # a browser that "opens" the page; nobody is there to approve
        "CLIQ_APPROVAL_WAIT": "2",  # short here; the default is checked against the SDK's timeout below
    }  # fmt: skip
    run = subprocess.run([node, str(SCRIPT), str(SDK), sys.executable], env=env, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["answered"] is True, out  # the server answered: no timeout error in the client
    assert "Not done yet" in out["text"] and "approve" in out["text"], out["text"]
    # The server's default wait on the page leaves the SDK's default timeout room for the answer to travel.
    default_wait = Settings.from_env({}).guard.approval_wait
    assert default_wait + 10 <= out["timeoutMs"] / 1000, (default_wait, out["timeoutMs"])
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert audit and audit[-1]["outcome"] != "acted"  # nothing was closed
