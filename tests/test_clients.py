"""`cliq-mcp config <client>`: the printed configuration is valid and starts the server; --write merges safely."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EVERY_TOOL, outside_env
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment

PLACEHOLDERS = {
    "CLIQ_DC": "com",
    "CLIQ_CLIENT_ID": "<your client id>",
    "CLIQ_CLIENT_SECRET": "<your client secret>",
    "CLIQ_REFRESH_TOKEN": "<your refresh token>",
}

REPO = Path(__file__).resolve().parent.parent


def user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIQ_", "XDG_"))}
    return env | {"HOME": str(home)}


def config(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliq_mcp", "config", *args],
        env=user_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
    )


def printed_entry(client: str, stdout: str) -> dict[str, Any]:
    """The server entry as the client would read it from what was printed."""
    if client == "claude-code":
        (line,) = [x for x in stdout.splitlines() if x.startswith("claude mcp add ")]
        words = shlex.split(line)
        assert words[:4] == ["claude", "mcp", "add", "cliq"]
        split = words.index("--")
        env = dict(value.split("=", 1) for flag, value in zip(words[4:split:2], words[5:split:2], strict=True))
        assert set(words[4:split:2]) <= {"-e"}
        snippet = json.loads(stdout[stdout.index("{") :])["mcpServers"]["cliq"]
        from_line = {"command": words[split + 1], "args": words[split + 2 :], **({"env": env} if env else {})}
        assert {"type": "stdio", **from_line} == snippet  # the line and the .mcp.json snippet agree
        return from_line
    printed = json.loads(stdout)  # the whole of stdout is the JSON: it can be redirected into the file
    if client == "vscode":
        entry = printed["servers"]["cliq"]
        assert entry.pop("type") == "stdio"
        return entry
    return printed["mcpServers"]["cliq"]


@pytest.mark.parametrize("client", ["claude-desktop", "claude-code", "vscode", "cursor"])
def test_printed_config_names_an_absolute_command_and_placeholders(client: str, tmp_path: Path) -> None:
    proc = config(client, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    entry = printed_entry(client, proc.stdout)
    command = Path(entry["command"])
    assert command.is_absolute() and command.is_file() and os.access(command, os.X_OK)
    assert entry["args"] in ([], ["-m", "cliq_mcp"])
    assert entry["env"] == PLACEHOLDERS
    assert "placeholders" in proc.stderr and "cliq-mcp auth" in proc.stderr


@pytest.mark.parametrize("client", ["claude-desktop", "claude-code", "vscode", "cursor"])
def test_with_a_credentials_file_no_env_is_needed(client: str, tmp_path: Path) -> None:
    path = tmp_path / ".config" / "cliq-mcp" / "credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"dc": "com", "client_id": "c", "client_secret": "s", "refresh_token": "r"}))
    proc = config(client, home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "env" not in printed_entry(client, proc.stdout)
    assert f"Credentials file {path} found" in proc.stderr and "no env is needed" in proc.stderr


@pytest.mark.era_independent
@pytest.mark.parametrize("client", ["claude-desktop", "claude-code", "vscode", "cursor"])
async def test_the_printed_config_starts_the_server(client: str, tmp_path: Path, era: str) -> None:
    proc = config(client, "--sandbox", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    entry = printed_entry(client, proc.stdout)
    assert entry["args"][-1] == "--sandbox" and "env" not in entry
    # as a client starts it: its usual inherited variables plus the entry's env
    env = get_default_environment() | {"HOME": str(tmp_path), **entry.get("env", {})}
    server = StdioServerParameters(command=entry["command"], args=entry["args"], env=env)
    async with Client(server, mode=era) as mcp:
        tools = (await mcp.list_tools()).tools
        listed = await mcp.call_tool("list_chats", {"limit": 1})
    assert {name for name, _ in EVERY_TOOL} <= {t.name for t in tools}
    assert listed.is_error is False


def test_write_merges_keeps_the_rest_and_backs_up(tmp_path: Path) -> None:
    path = tmp_path / "claude_desktop_config.json"
    original = {"globalShortcut": "Ctrl+Space", "mcpServers": {"other": {"command": "/bin/other", "args": ["x"]}}}
    path.write_text(json.dumps(original, indent=4))
    proc = config("claude-desktop", "--sandbox", "--write", "--config-file", str(path), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads(path.read_text())
    assert merged["globalShortcut"] == "Ctrl+Space"
    assert merged["mcpServers"]["other"] == original["mcpServers"]["other"]
    assert merged["mcpServers"]["cliq"]["args"][-1] == "--sandbox"
    (backup,) = tmp_path.glob("claude_desktop_config.json.*.bak")
    assert json.loads(backup.read_text()) == original
    assert f"Added the server 'cliq' in {path}" in proc.stdout and backup.name in proc.stdout

    # Without credentials (and without --sandbox) nothing is written: placeholders in a live config only fail.
    before = path.read_text()
    again = config("claude-desktop", "--write", "--name", "cliq", "--config-file", str(path), home=tmp_path)
    assert again.returncode == 1 and "cliq-mcp auth" in again.stderr and path.read_text() == before
    assert len(list(tmp_path.glob("claude_desktop_config.json.*.bak"))) == 1


def test_write_keeps_real_values_over_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    real = {"CLIQ_CLIENT_ID": "1000.REAL", "CLIQ_CLIENT_SECRET": "real-secret-value", "CLIQ_READ_ONLY": "1"}
    path.write_text(json.dumps({"mcpServers": {"cliq": {"command": "/old/cliq-mcp", "env": real}}}))
    proc = config("cursor", "--write", "--config-file", str(path), home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(path.read_text())["mcpServers"]["cliq"]
    assert entry["command"] != "/old/cliq-mcp"
    assert entry["env"] == real  # kept; no placeholder written beside them
    assert "real-secret-value" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"mcpServers": []}'])
def test_write_refuses_a_file_it_cannot_merge_into(tmp_path: Path, content: str) -> None:
    path = tmp_path / "claude_desktop_config.json"
    path.write_text(content)
    proc = config("claude-desktop", "--sandbox", "--write", "--config-file", str(path), home=tmp_path)
    assert proc.returncode == 1
    assert str(path) in proc.stderr
    assert path.read_text() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claude_desktop_config.json"]  # no backup, no temp file


# The default file's place differs by platform: these are the Linux places, where the suite runs.
@pytest.mark.parametrize(
    ("client", "where", "key"),
    [
        ("claude-desktop", ".config/Claude/claude_desktop_config.json", "mcpServers"),
        ("cursor", ".cursor/mcp.json", "mcpServers"),
        ("vscode", ".vscode/mcp.json", "servers"),  # the current directory's (here: HOME)
    ],
)
def test_write_creates_the_clients_usual_file(tmp_path: Path, client: str, where: str, key: str) -> None:
    proc = config(client, "--sandbox", "--write", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = json.loads((tmp_path / where).read_text())
    assert list(written) == [key] and list(written[key]) == ["cliq"]


async def test_without_the_script_the_command_is_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    from cliq_mcp.cli import host_config

    monkeypatch.setattr(host_config.shutil, "which", lambda *args, **kwargs: None)
    entry, _ = host_config.server_entry(sandbox=True)
    assert entry == {"command": os.path.abspath(sys.executable), "args": ["-m", "cliq_mcp", "--sandbox"]}
    server = StdioServerParameters(command=entry["command"], args=entry["args"], env=get_default_environment())
    async with Client(server, mode="legacy") as mcp:
        assert len((await mcp.list_tools()).tools) >= len(EVERY_TOOL)


def test_from_uvs_cache_the_command_is_one_that_lasts(tmp_path: Path) -> None:
    """Run as `uvx cliq-mcp config ...`, this Python lives in uv's cache, which uv prunes: the command printed
    is `uvx cliq-mcp`, which finds (or fetches) it again tomorrow."""
    env_dir = tmp_path / ".cache" / "uv" / "archive-v0" / "Xy1-abc"  # where uvx keeps a tool's environment
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=60)
    ours = ":".join(p for p in sys.path if p.endswith("site-packages"))
    code = "from cliq_mcp.cli.host_config import server_command; print(server_command())"
    done = subprocess.run([str(env_dir / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60,
                          env={**outside_env(), "PYTHONPATH": f"{REPO}:{ours}"})  # fmt: skip
    command, args = eval(done.stdout)
    assert command == "uvx" and args[-1] == "cliq-mcp" and args[0] == "--from", done.stderr
