"""``cliq-mcp bundle``: an MCP Bundle (``.mcpb``) that installs this server in Claude Desktop in one click.

The bundle is a zip: ``manifest.json`` (the format of ``@anthropic-ai/mcpb``, manifest version 0.4), a
``pyproject.toml`` naming the dependencies, ``server/main.py`` and this package's own source under
``server/cliq_mcp``. Its server type is ``uv``: Claude Desktop brings uv, which fetches a suitable Python
and the dependencies, so the person needs nothing installed. (The older ``python`` type runs the
person's own Python with dependencies bundled in ``server/lib``; pydantic-core is compiled, so such a
bundle would only work on the platform and Python version it was built on.)

The manifest lists the tools and prompts the server serves, read from the server itself, and asks the
person for the data centre, the Zoho Self Client's id, secret and refresh token (secrets marked
sensitive: Claude Desktop keeps them in the OS keychain), or to tick "sandbox" to try it with no account.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import anyio

import cliq_mcp
from cliq_mcp.core.config import DATA_CENTRES

MANIFEST_VERSION = "0.4"  # the first with server.type "uv"
ENTRY_POINT = "server/main.py"

# Run by `uv run` from the bundle's directory; the script's own folder (server/) holds the package.
MAIN = '''"""cliq-mcp as an MCP Bundle: started by Claude Desktop with `uv run` (see manifest.json)."""

import os
import sys

from cliq_mcp.cli.main import main

# user_config.sandbox arrives as "true" or "false"; ticked, the server answers from a simulated workspace.
sandbox = os.environ.pop("CLIQ_MCPB_SANDBOX", "").strip().lower() == "true"
sys.exit(main(["--sandbox"] if sandbox else []))
'''

USER_CONFIG: dict[str, dict[str, Any]] = {
    "sandbox": {
        "type": "boolean",
        "title": "Sandbox (no account)",
        "description": "Try every tool on a simulated Cliq workspace built into the server: no Zoho account is "
        "used and nothing real changes. Untick it to use your account with the credentials below.",
        "default": False,
    },
    "dc": {
        "type": "string",
        "title": "Zoho data centre",
        "description": f"Where your Zoho account lives: {', '.join(DATA_CENTRES)} (com is zoho.com). Empty: the "
        "one `cliq-mcp auth` saved, else com.",
        "default": "",
    },
    "client_id": {
        "type": "string",
        "title": "Zoho client id",
        "description": "The client id of your Self Client in Zoho's API console (api-console.zoho.com).",
        "default": "",
    },
    "client_secret": {
        "type": "string",
        "title": "Zoho client secret",
        "description": "The Self Client's client secret.",
        "sensitive": True,
        "default": "",
    },
    "refresh_token": {
        "type": "string",
        "title": "Zoho refresh token",
        "description": "A refresh token for the scopes ZohoCliq.Chats.READ,CREATE,UPDATE,DELETE (`cliq-mcp auth` "
        "prints how to get one). Leave the three empty if `cliq-mcp auth` already saved your credentials.",
        "sensitive": True,
        "default": "",
    },
}

ENV = {
    "CLIQ_MCPB": "1",  # setup help names Claude Desktop's settings, not a shell
    "CLIQ_MCPB_SANDBOX": "${user_config.sandbox}",
    "CLIQ_DC": "${user_config.dc}",
    "CLIQ_CLIENT_ID": "${user_config.client_id}",
    "CLIQ_CLIENT_SECRET": "${user_config.client_secret}",
    "CLIQ_REFRESH_TOKEN": "${user_config.refresh_token}",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "bundle",
        help="write cliq-mcp.mcpb, an MCP Bundle that installs this server in Claude Desktop",
        description="Write an MCP Bundle (.mcpb): open it with Claude Desktop to install the server, no Python "
        "needed. Claude Desktop asks for your Zoho credentials, or runs it in the sandbox.",
    )
    parser.add_argument("--output", default="cliq-mcp.mcpb", help="where to write it (default ./cliq-mcp.mcpb)")
    parser.set_defaults(write_bundle=run)


def dependencies() -> list[str]:
    """This package's own dependencies (without extras), as installed: one list, in pyproject.toml."""
    found = importlib.metadata.requires("cliq-mcp") or []
    return [r for r in found if "extra ==" not in r]


async def served() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tools and prompts as the server serves them, for the manifest."""
    from mcp.types import TextContent

    from cliq_mcp.core.config import Settings
    from cliq_mcp.serve.server import build_server

    server = build_server(Settings.from_env({}))
    tools = [{"name": t.name, "description": t.description or ""} for t in await server.list_tools()]
    prompts = []
    for prompt in await server.list_prompts():
        names = [a.name for a in prompt.arguments or []]
        shown = await server.get_prompt(prompt.name, {n: "${arguments." + n + "}" for n in names})
        messages = getattr(shown, "messages", [])  # a prompt never asks for input
        text = "\n".join(m.content.text for m in messages if isinstance(m.content, TextContent))
        prompts.append({"name": prompt.name, "description": prompt.description or "", "arguments": names, "text": text})
    return tools, prompts


def manifest(tools: list[dict[str, Any]], prompts: list[dict[str, Any]]) -> dict[str, Any]:
    meta = importlib.metadata.metadata("cliq-mcp")
    python = meta["Requires-Python"] or ">=3.10"
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": "cliq-mcp",
        "display_name": "Zoho Cliq chats",
        "version": cliq_mcp.__version__,
        "description": meta["Summary"],
        "long_description": "Find, read, create, rename, mark read and tidy your Zoho Cliq chats. Destructive "
        "tools act only on your yes, asked in Claude. Tick *Sandbox* to try it on a simulated workspace.",
        "author": {"name": "cliq-mcp contributors"},
        "license": meta["License"] or "MIT",
        "icon": ICON,
        "keywords": ["zoho", "cliq", "chat", "mcp"],
        "privacy_policies": ["https://www.zoho.com/privacy.html"],  # it reaches Zoho's API with your account
        "server": {
            "type": "uv",
            "entry_point": ENTRY_POINT,
            "mcp_config": {"command": "uv", "args": ["run", "--directory", "${__dirname}", ENTRY_POINT], "env": ENV},
        },
        "tools": tools,
        "prompts": prompts,
        "compatibility": {"platforms": ["darwin", "win32", "linux"], "runtimes": {"python": python}},
        "user_config": USER_CONFIG,
    }


ICON = "icon.png"


def icon(size: int = 128) -> bytes:
    """The bundle's icon, drawn here (no binary file in the repository): a speech bubble on Cliq's blue."""
    import struct
    import zlib

    blue, white = b"\x1a\x73\xe8\xff", b"\xff\xff\xff\xff"
    clear = b"\x00\x00\x00\x00"

    def pixel(x: int, y: int) -> bytes:
        r, c = size * 0.18, size / 2  # corner radius of the tile; its centre
        dx, dy = max(abs(x - c) - (c - r), 0), max(abs(y - c) - (c - r), 0)
        if dx * dx + dy * dy > r * r:
            return clear
        bubble = size * 0.24 <= x <= size * 0.76 and size * 0.28 <= y <= size * 0.62
        tail = size * 0.34 <= x <= size * 0.34 + (size * 0.76 - y) and size * 0.62 <= y <= size * 0.76
        return white if bubble or tail else blue

    rows = b"".join(b"\x00" + b"".join(pixel(x, y) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def pyproject(python: str) -> str:
    """The bundle's own project: its dependencies for uv, nothing to build (the package is in server/)."""
    listed = "".join(f"    {json.dumps(r)},\n" for r in dependencies())
    return (
        f'[project]\nname = "cliq-mcp-bundle"\nversion = "{cliq_mcp.__version__}"\n'
        f"requires-python = {json.dumps(python)}\ndependencies = [\n{listed}]\n\n"
        "[tool.uv]\npackage = false\n"
    )


def build(output: Path) -> dict[str, Any]:
    """Write the bundle to ``output``; return its manifest."""
    tools, prompts = anyio.run(served)
    written = manifest(tools, prompts)
    source = Path(cliq_mcp.__file__).parent
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("manifest.json", json.dumps(written, indent=2, ensure_ascii=False) + "\n")
        bundle.writestr("pyproject.toml", pyproject(written["compatibility"]["runtimes"]["python"]))
        bundle.writestr(ENTRY_POINT, MAIN)
        bundle.writestr(ICON, icon())
        for path in sorted(source.rglob("*")):  # the source and its data (the served schemas, the policy example)
            kept = path.suffix in (".py", ".json", ".toml", ".typed") and "__pycache__" not in path.parts
            if kept and path.is_file():
                bundle.write(path, f"server/cliq_mcp/{path.relative_to(source).as_posix()}")
    return written


def run(args: argparse.Namespace) -> int:
    output = Path(args.output).expanduser()
    try:
        written = build(output)
    except OSError as exc:
        print(f"cliq-mcp bundle: could not write {output} ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 1
    print(f"Wrote {output} ({len(written['tools'])} tools, {len(written['prompts'])} prompts).", file=sys.stderr)
    print("Open it with Claude Desktop (or drag it into Settings > Extensions) to install the server.", file=sys.stderr)
    return 0
