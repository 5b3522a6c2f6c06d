"""The command line explains itself: its version, every subcommand on a usage error, the tools near a mistyped
one, and "listening" only once the port is bound."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from conftest import outside_env

import cliq_mcp


def cliq_mcp_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cliq_mcp", *args], capture_output=True, text=True, timeout=60,
                          env=outside_env(), stdin=subprocess.DEVNULL)  # fmt: skip


def test_version() -> None:
    done = cliq_mcp_run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"cliq-mcp {cliq_mcp.__version__}"


def test_a_mistyped_subcommand_is_told_every_subcommand() -> None:
    done = cliq_mcp_run("tidyy")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for name in ("auth", "config", "audit", "bundle", "tidy", "call", "sandbox-server", "schemas"):
        assert f"'{name}'" in done.stderr, name


def test_calling_a_tool_that_does_not_exist_names_the_closest_and_exits_2() -> None:
    done = cliq_mcp_run("call", "list_chat", "{}", "--sandbox")
    assert done.returncode == 2 and done.stdout == ""
    assert "no tool named 'list_chat'. Did you mean list_chats" in done.stderr


def test_http_says_it_listens_only_once_it_does() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cliq_mcp_run("--sandbox", "--transport", "http", "--port", str(port))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr and "MCP over HTTP at" not in done.stderr


async def test_no_capability_is_advertised_that_is_not_served() -> None:
    from mcp import Client

    from cliq_mcp.core.config import Settings
    from cliq_mcp.serve.server import build_server

    for era in ("auto", "legacy"):
        async with Client(build_server(Settings.from_env({}).for_sandbox()), mode=era) as client:
            capabilities = client.session.server_capabilities
            assert capabilities is not None and capabilities.resources is None, era
            assert capabilities.tools is not None and capabilities.prompts is not None


def test_schemas_check_outside_a_checkout_says_so_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cliq_mcp", "schemas", "--check"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=outside_env())  # fmt: skip
    assert done.returncode == 2 and "no tool_schemas/ here to check" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created where it was run
