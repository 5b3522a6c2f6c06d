"""``cliq-mcp config <client>``: the configuration an MCP client needs to start this server.

Prints it (JSON on stdout, notes on stderr, so the output can be redirected into a file), or with
``--write`` merges it into the client's file: other servers and keys kept, a timestamped backup first,
an existing file that is not JSON left untouched. Never prints a secret: without a credentials file the
env block holds placeholders.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cliq_mcp.core.config import credentials_path

CLIENTS = ("claude-desktop", "claude-code", "vscode", "cursor")
PLACEHOLDERS = {
    "CLIQ_DC": "com",
    "CLIQ_CLIENT_ID": "<your client id>",
    "CLIQ_CLIENT_SECRET": "<your client secret>",
    "CLIQ_REFRESH_TOKEN": "<your refresh token>",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "config",
        help="print the configuration an MCP client needs to start this server (or --write it into its file)",
        description="Print a working configuration for an MCP client: this installation's absolute command, and "
        "either --sandbox, nothing more (when `cliq-mcp auth` saved credentials), or env placeholders to fill in.",
    )
    parser.add_argument("client", choices=CLIENTS)
    # its own dest: the server's top-level --sandbox takes on/off/auto
    parser.add_argument("--sandbox", dest="with_sandbox", action="store_true", help="start the simulated workspace")
    parser.add_argument("--name", default="cliq", help="the server's name in the client (default cliq)")
    parser.add_argument("--write", action="store_true", help="merge it into the client's configuration file")
    parser.add_argument("--config-file", help="the file --write merges into (default: the client's usual file)")
    parser.set_defaults(run=_run)


def _in_uv_cache(prefix: Path) -> bool:
    """Whether this Python is one of uv's throw-away environments (``uvx cliq-mcp``): a path into uv's cache
    (``…/uv/archive-v0/<hash>``) is gone once the cache is pruned."""
    parts = prefix.parts
    return any(p.startswith(("archive-v", "environments-v", "builds-v")) for p in parts) and "uv" in parts


def _uvx_source() -> list[str]:
    """``uvx`` arguments for exactly what runs now: where this distribution came from (PEP 610's
    direct_url.json: a git commit, a local path), else this version from the index; never "whatever the index
    serves under the name tomorrow"."""
    import importlib.metadata

    from cliq_mcp import __version__

    try:
        recorded = importlib.metadata.distribution("cliq-mcp").read_text("direct_url.json")
        where = json.loads(recorded) if recorded else {}
    except (importlib.metadata.PackageNotFoundError, ValueError):
        where = {}
    url = where.get("url") if isinstance(where, dict) else None
    vcs = where.get("vcs_info") if isinstance(where, dict) else None
    if isinstance(url, str) and isinstance(vcs, dict) and vcs.get("commit_id"):
        return ["--from", f"{vcs.get('vcs', 'git')}+{url}@{vcs['commit_id']}", "cliq-mcp"]
    if isinstance(url, str) and url.startswith("file://"):
        return ["--from", url.removeprefix("file://"), "cliq-mcp"]
    return ["--from", f"cliq-mcp=={__version__}", "cliq-mcp"]


def server_command() -> tuple[str, list[str]]:
    """This installation's absolute command: the ``cliq-mcp`` script beside the interpreter, on PATH, or
    ``python -m cliq_mcp``. Not resolved through symlinks: a venv's python is a link out of the venv. Run from
    uv's cache (``uvx``), the command that will still work tomorrow: ``uvx cliq-mcp``."""
    if _in_uv_cache(Path(sys.prefix)):
        return "uvx", _uvx_source()
    beside = Path(sys.executable).parent
    found = shutil.which("cliq-mcp", path=os.pathsep.join([str(beside), os.environ.get("PATH", "")]))
    if found:
        return os.path.abspath(found), []
    return os.path.abspath(sys.executable), ["-m", "cliq_mcp"]


def server_entry(sandbox: bool) -> tuple[dict[str, Any], list[str]]:
    """``{"command", "args", "env"?}`` and notes for the person."""
    command, args = server_command()
    entry: dict[str, Any] = {"command": command, "args": [*args, "--sandbox"] if sandbox else args}
    if sandbox:
        return entry, ["--sandbox: the server answers from a simulated workspace; no Zoho account is used."]
    path = credentials_path(os.environ)
    if path is not None and path.is_file():
        notes = [f"Credentials file {path} found (from `cliq-mcp auth`): no env is needed."]
        home = os.environ.get("HOME")
        if not home or path != Path(home) / ".config" / "cliq-mcp" / "credentials.json":
            # the client may not pass on CLIQ_CREDENTIALS_FILE / XDG_CONFIG_HOME: name the file outright
            entry["env"] = {"CLIQ_CREDENTIALS_FILE": str(path)}
            notes = [f"Credentials file {path} found (from `cliq-mcp auth`): env names the file, no secrets."]
        return entry, notes
    entry["env"] = dict(PLACEHOLDERS)
    return entry, [
        "Replace the <...> placeholders with your Self Client's credentials (and CLIQ_DC if not zoho.com),",
        "or run `cliq-mcp auth` first, then print this again: with the saved credentials no env is needed.",
    ]


def default_file(client: str) -> Path:
    if client == "claude-desktop":
        if sys.platform == "darwin":
            return Path.home() / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
        if sys.platform == "win32":
            appdata = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
            return appdata / "Claude" / "claude_desktop_config.json"
        return Path.home() / ".config" / "Claude" / "claude_desktop_config.json"
    if client == "cursor":
        return Path.home() / ".cursor" / "mcp.json"
    if client == "vscode":
        return Path.cwd() / ".vscode" / "mcp.json"
    return Path.cwd() / ".mcp.json"  # claude-code: the project's shared file


def _shape(client: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    if client == "vscode":
        return {"servers": {name: {"type": "stdio", **entry}}}
    if client == "claude-code":
        return {"mcpServers": {name: {"type": "stdio", **entry}}}
    return {"mcpServers": {name: entry}}


def claude_code_line(name: str, entry: dict[str, Any]) -> str:
    # The name before -e: -e takes several values and would swallow a name after it.
    env = [part for key, value in entry.get("env", {}).items() for part in ("-e", f"{key}={value}")]
    return shlex.join(["claude", "mcp", "add", name, *env, "--", entry["command"], *entry["args"]])


class Refused(Exception):
    """The file was left as it was; the message says why."""


def merge_into(path: Path, key: str, name: str, entry: dict[str, Any]) -> tuple[str, Path | None]:
    """Put ``entry`` at ``[key][name]`` in the JSON file ``path``; return (added|replaced, backup path)."""
    existing: dict[str, Any] = {}
    old_text: str | None = None
    if path.exists():
        try:
            old_text = path.read_text(encoding="utf-8")
            existing = json.loads(old_text) if old_text.strip() else {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise Refused(f"{path} is not valid JSON ({type(exc).__name__}); fix or move it, then try again") from None
        if not isinstance(existing, dict) or not isinstance(existing.get(key, {}), dict):
            raise Refused(f"{path} does not hold a JSON object with a {key!r} object; fix or move it first")
    merged_servers = dict(existing.get(key, {}))
    old_entry = merged_servers.get(name)
    new_entry = dict(entry)
    if new_entry.get("env") == PLACEHOLDERS:  # no credentials here: only what the file already holds is kept
        kept = old_entry.get("env") if isinstance(old_entry, dict) else None
        new_entry["env"] = dict(kept) if isinstance(kept, dict) else {}
        if not any(k in new_entry["env"] for k in PLACEHOLDERS if k != "CLIQ_DC"):
            raise Refused(
                f"no credentials to write into {path}: a client started with placeholders would only fail. Run "
                "`cliq-mcp auth` first (then no secrets are written at all), or use --sandbox"
            )
    merged_servers[name] = new_entry
    merged = {**existing, key: merged_servers}

    backup = None
    if old_text is not None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.{stamp}.bak")
        n = 1
        while backup.exists():
            backup, n = path.with_name(f"{path.name}.{stamp}-{n}.bak"), n + 1
        shutil.copy2(path, backup)
    mode = (path.stat().st_mode & 0o777) if old_text is not None else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(merged, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return ("replaced" if old_entry is not None else "added"), backup


def _run(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if not name:
        print("cliq-mcp config: --name must not be empty", file=sys.stderr)
        return 2
    entry, notes = server_entry(args.with_sandbox)
    config = _shape(args.client, name, entry)
    if args.write:
        path = Path(args.config_file).expanduser() if args.config_file else default_file(args.client)
        try:
            ((key, servers),) = config.items()
            done, backup = merge_into(path, key, name, servers[name])
        except Refused as exc:
            print(f"cliq-mcp config: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"cliq-mcp config: could not write {path} ({exc.strerror or type(exc).__name__})", file=sys.stderr)
            return 1
        print(f"{done.capitalize()} the server {name!r} in {path}" + (f" (backup: {backup.name})." if backup else "."))
        for note in notes:
            print(note)
        print("Restart the client to pick it up.")
        return 0

    text = json.dumps(config, indent=2, ensure_ascii=False)
    if args.client == "claude-code":
        print("# Run once (with --scope user after `add` to use it in every project):")
        print(claude_code_line(name, entry))
        print("\n# Or put this in .mcp.json at the project's root:")
    print(text)
    for note in notes:
        print(note, file=sys.stderr)
    return 0
