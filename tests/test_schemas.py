"""tool_schemas/ is what tools/list serves, byte for byte; the input schemas are the request models'."""

from __future__ import annotations

import json
from pathlib import Path

from mcp import Client

from cliq_mcp.cli.schemas import render, schema_cache
from cliq_mcp.core.config import Settings
from cliq_mcp.serve.server import SCHEMAS, build_server
from cliq_mcp.tools.catalogue import CATALOGUE
from cliq_mcp.tools.outputs import Written
from cliq_mcp.tools.schema import json_schema, outline

ROOT = Path(__file__).resolve().parent.parent / "tool_schemas"


async def test_tool_schemas_match_live_tools_list(era: str) -> None:
    async with Client(build_server(Settings.from_env({})), mode=era) as client:
        listed = (await client.list_tools()).tools
    served = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed]
    on_disk = {p.name: p.read_text() for p in ROOT.glob("*.json")}
    assert on_disk == render(served), "tool_schemas/ is stale: run `cliq-mcp schemas` and commit the result"


async def test_every_catalogue_operation_is_one_tool_with_its_model_schema() -> None:
    async with Client(build_server(Settings.from_env({}))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == [op.name for op in CATALOGUE]
    for op in CATALOGUE:
        tool = tools[op.name]
        assert tool.input_schema == json_schema(op.arguments, "validation")
        assert tool.output_schema == outline(json_schema(op.output, "serialization"))
        assert tool.description and "\n" not in tool.description
        a = tool.annotations
        # Hints left out take the spec's defaults: readOnly false, destructive true, idempotent false, openWorld true.
        assert a is not None and a.open_world_hint is None
        assert bool(a.read_only_hint) is (op.effect.value == "read")
        destructive = a.destructive_hint is not False and not a.read_only_hint
        assert destructive is (op.effect.value == "destructive")
        assert bool(a.idempotent_hint) is (op.idempotent and op.effect.value != "read")
        # A write tool's answer can be a preview (dry run, confirmation pending): its schema must allow that.
        assert issubclass(op.output, Written) is (op.effect.value != "read")


def test_the_schemas_served_at_start_up_are_the_models_own() -> None:
    """Start-up reads every tool's schemas from cliq_mcp/tool_schemas.json instead of generating them (the
    trust-host variant with confirmation_token too): it must hold exactly what the models make."""
    assert SCHEMAS.read_text(encoding="utf-8") == schema_cache(), "run `cliq-mcp schemas` and commit the result"


def test_issue_tool_names_are_all_served() -> None:
    names = json.loads((ROOT / "index.json").read_text())
    assert {n["name"] for n in names} >= {
        "list_chats", "search_chats", "get_chat", "create_chat", "mark_chats_read", "clear_unread_counts",
        "rename_chat", "set_chat_history", "mark_chat_read", "mark_chat_unread", "add_chat_members",
        "fork_chat", "send_typing_activity", "clear_chat_history", "close_chat", "remove_chat_members",
        "list_chat_members", "leave_chat", "mute_chat", "unmute_chat",
    }  # fmt: skip
