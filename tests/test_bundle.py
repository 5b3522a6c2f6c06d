"""`cliq-mcp bundle`: the .mcpb validated by the official `mcpb` CLI, unpacked by it, and started from its
files as Claude Desktop starts it (the mcpb library resolves the command; uv installs the dependencies),
listing tools over stdio. Needs Node.js and @anthropic-ai/mcpb (the README's test command installs it): fails
without."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EVERY_TOOL, outside_env
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parents[1]
INSTALL = "scripts/test.sh (or: npm install --no-save --prefix .ci/node @anthropic-ai/mcpb@2)"


def mcpb_package() -> Path:
    """@anthropic-ai/mcpb: installed by .ci/run under .ci/node, or on PATH."""
    local = REPO / ".ci" / "node" / "node_modules" / "@anthropic-ai" / "mcpb"
    if local.is_dir():
        return local
    found = shutil.which("mcpb")
    if found:  # .../@anthropic-ai/mcpb/dist/cli/cli.js
        return Path(os.path.realpath(found)).parents[2]
    pytest.fail(f"the official mcpb CLI is missing: run `{INSTALL}`")


def uv() -> str:
    found = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert found, "uv is missing: it comes with the test extra (pip install '.[test]')"
    return found


def mcpb(*args: str) -> subprocess.CompletedProcess[str]:
    cli = mcpb_package() / "dist" / "cli" / "cli.js"
    return subprocess.run(["node", str(cli), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The bundle written by `cliq-mcp bundle`, and the folder `mcpb unpack` unpacked it into."""
    folder = tmp_path_factory.mktemp("bundle")
    done = subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "bundle", "--output", str(folder / "cliq-mcp.mcpb")],
        capture_output=True, text=True, timeout=60, env={**outside_env(), "HOME": str(folder)}, cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    unpacked = mcpb("unpack", str(folder / "cliq-mcp.mcpb"), str(folder / "unpacked"))
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    return folder / "cliq-mcp.mcpb", folder / "unpacked"


def test_the_official_cli_validates_the_manifest(built: tuple[Path, Path]) -> None:
    bundle, unpacked = built
    checked = mcpb("validate", str(unpacked / "manifest.json"))
    assert checked.returncode == 0 and "validation passes" in checked.stdout, checked.stdout + checked.stderr
    info = mcpb("info", str(bundle))
    assert info.returncode == 0 and "cliq-mcp.mcpb" in info.stdout


def test_the_manifest_describes_the_server(built: tuple[Path, Path]) -> None:
    manifest = json.loads((built[1] / "manifest.json").read_text())
    assert manifest["name"] == "cliq-mcp" and manifest["server"]["type"] == "uv"
    assert sorted(t["name"] for t in manifest["tools"]) == sorted(name for name, _ in EVERY_TOOL)
    assert all(t["description"] for t in manifest["tools"])
    prompts = {p["name"]: p for p in manifest["prompts"]}
    assert prompts["tidy_my_chats"]["arguments"] == ["inactive_days"]
    assert "inactive_days=${arguments.inactive_days}" in prompts["tidy_my_chats"]["text"]
    config = manifest["user_config"]
    assert {"dc", "client_id", "client_secret", "refresh_token", "sandbox"} <= set(config)
    assert config["client_secret"]["sensitive"] is True and config["refresh_token"]["sensitive"] is True
    assert not config["client_id"].get("sensitive") and config["sandbox"]["type"] == "boolean"
    assert (built[1] / "server" / "main.py").is_file() and (
        built[1] / "server" / "cliq_mcp" / "serve/server.py"
    ).is_file()


def as_claude_desktop(unpacked: Path, user_config: dict[str, Any]) -> dict[str, Any]:
    """The command, arguments and environment Claude Desktop would start, from the mcpb library itself."""
    resolver = Path(__file__).parent / "node" / "mcpb_config.mjs"
    done = subprocess.run(
        ["node", str(resolver), str(mcpb_package()), str(unpacked), json.dumps(user_config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


async def test_started_from_the_unpacked_bundle_it_lists_and_calls_tools(built: tuple[Path, Path]) -> None:
    unpacked = built[1]
    config = as_claude_desktop(unpacked, {"sandbox": True})
    assert config["command"] == "uv" and str(unpacked) in config["args"]
    assert config["env"]["CLIQ_MCPB_SANDBOX"] == "true" and config["env"]["CLIQ_CLIENT_SECRET"] == ""
    # Claude Desktop provides uv; here it is the test extra's. uv finds this machine's Python (never downloads
    # one here) and installs the dependencies the bundle's pyproject.toml names, into the bundle's folder.
    env = {
        **outside_env(),
        "PATH": os.pathsep.join([str(Path(uv()).parent), os.environ["PATH"]]),
        "UV_PYTHON_DOWNLOADS": "never",
        **config["env"],
    }
    server = StdioServerParameters(command=config["command"], args=config["args"], env=env)
    async with Client(server, mode="legacy") as client:  # Claude Desktop is a handshake-era client
        tools = (await client.list_tools()).tools
        listed = await client.call_tool("list_chats", {"limit": 2})
    assert {t.name for t in tools} == {name for name, _ in EVERY_TOOL}
    assert listed.is_error is False and len(listed.structured_content["chats"]) == 2  # the sandbox answered


def test_without_credentials_or_sandbox_claude_desktop_still_starts_it(built: tuple[Path, Path]) -> None:
    config = as_claude_desktop(built[1], {})  # nothing filled in: the defaults
    assert config["env"] == {
        "CLIQ_MCPB": "1",
        "CLIQ_MCPB_SANDBOX": "false",
        "CLIQ_DC": "",
        "CLIQ_CLIENT_ID": "",
        "CLIQ_CLIENT_SECRET": "",
        "CLIQ_REFRESH_TOKEN": "",
    }  # fmt: skip  (an empty data centre defers to what `cliq-mcp auth` saved)


def test_the_readmes_size_of_the_bundle_is_true(built: tuple[Path, Path]) -> None:
    said = re.search(r"its icon \(about (\d+) KB\)", (REPO / "README.md").read_text())
    assert said, "the README no longer says the bundle's size"
    size_kb = built[0].stat().st_size / 1024
    assert abs(size_kb - int(said.group(1))) <= 0.1 * size_kb, f"the bundle is {size_kb:.0f} KB"


def test_the_manifest_has_an_icon_and_says_what_it_runs_on(built: tuple[Path, Path]) -> None:
    manifest = json.loads((built[1] / "manifest.json").read_text())
    icon = built[1] / manifest["icon"]
    assert icon.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert manifest["compatibility"]["platforms"] == ["darwin", "win32", "linux"]
    assert manifest["compatibility"]["runtimes"]["python"] == ">=3.10"
