"""tool_schemas/: the served tool definitions as files, so every schema change is a visible diff.

``cliq-mcp schemas`` rewrites them from the code; ``cliq-mcp schemas --check`` (and the test suite)
fails when code and files differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio


async def served_tools() -> list[dict[str, Any]]:
    """The tools exactly as ``tools/list`` serves them (wire form), without touching the network."""
    from cliq_mcp.core.config import Settings
    from cliq_mcp.serve.server import build_server

    server = build_server(Settings.from_env({}))
    tools = await server.list_tools()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def render(tools: list[dict[str, Any]]) -> dict[str, str]:
    files = {f"{t['name']}.json": json.dumps(t, indent=2, sort_keys=True) + "\n" for t in tools}
    index = [{"name": t["name"], "title": t.get("title"), "description": t["description"]} for t in tools]
    files["index.json"] = json.dumps(index, indent=2) + "\n"
    return files


def schema_cache() -> str:
    """What ``server.SCHEMAS`` holds: every tool's schemas, as its models make them now."""
    from cliq_mcp.serve.server import live_schemas
    from cliq_mcp.tools.catalogue import CATALOGUE

    return json.dumps({op.name: live_schemas(op) for op in CATALOGUE}, sort_keys=True, separators=(",", ":")) + "\n"


def main(directory: str, *, check: bool = False) -> int:
    from cliq_mcp.serve.server import SCHEMAS

    cache = schema_cache()
    if not check and (not SCHEMAS.exists() or SCHEMAS.read_text(encoding="utf-8") != cache):
        SCHEMAS.write_text(cache, encoding="utf-8")  # first: the served tools below are read from it
    files = render(anyio.run(served_tools))
    root = Path(directory)
    if check:
        if not root.is_dir():  # not in a checkout: nothing here to be out of date (and nothing to write)
            print(f"no {root}/ here to check: run it in a checkout of cliq-mcp, or give --dir.", file=sys.stderr)
            return 2
        on_disk = {p.name: p.read_text() for p in root.glob("*.json")}
        drift = sorted(set(on_disk) ^ set(files) | {n for n in files if on_disk.get(n) != files[n]})
        if not SCHEMAS.exists() or SCHEMAS.read_text(encoding="utf-8") != cache:
            drift.append(f"cliq_mcp/{SCHEMAS.name}")
        if drift:
            print(f"tool schemas are out of date: {', '.join(drift)}. Run: cliq-mcp schemas", file=sys.stderr)
            return 1
        return 0
    root.mkdir(parents=True, exist_ok=True)
    for stale in set(p.name for p in root.glob("*.json")) - set(files):
        (root / stale).unlink()
    for name, text in files.items():
        (root / name).write_text(text)
    print(f"wrote {len(files)} files to {root}", file=sys.stderr)
    return 0
