"""What an assistant trial of everyday tasks found unclear or untrue, as the assistant now reads it."""

from __future__ import annotations

from pathlib import Path

from conftest import ALICE, Cliq, answering, api_calls, text, writes
from mcp import Client
from mcp.types import ElicitRequestParams
from simulated_cliq import FakeTime, Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.serve.server import build_server

Q2 = "2890538000000099999"


async def test_renaming_a_direct_chat_says_cliq_does_not_allow_it(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("rename_chat", {"chat_id": ALICE, "title": "Alice (design)"})
    assert result.is_error and "contact_rename_not_supported" in text(result)
    assert "no argument changes that" in text(result) and "Correct the arguments" not in text(result)


async def test_the_unread_view_says_closed_chats_are_not_in_it(client: Client) -> None:
    result = await client.call_tool("list_chats", {"unread": True, "chat_type": "direct_message"})
    assert "Closed chats are not in it (the same call with closed=true walks those)." in text(result)


async def test_a_list_filtered_by_muted_says_they_are_muted(client: Client, workspace: Workspace) -> None:
    muted = next(c for c in workspace.my_chats() if c.muted)
    result = await client.call_tool("list_chats", {"muted": True})
    line = next(x for x in text(result).splitlines() if x.startswith(muted.chat_id))
    assert line.endswith("muted") and all(c.get("muted") is True for c in result.structured_content["chats"])


async def test_get_chat_says_none_unread_rather_than_nothing(client: Client, workspace: Workspace) -> None:
    workspace.chats[Q2].unread = 0
    result = await client.call_tool("get_chat", {"chat_id": Q2})
    assert " · 0 unread · " in text(result)


async def test_a_plan_batch_question_says_how_many_more_the_plan_holds(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("decline", None, seen)) as c:
        planned = await c.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 60})
        await c.call_tool("close_chats", {"plan": planned.structured_content["plan"]})
    assert seen[0].message.startswith("Close 50 chats (of the 60 its plan holds; the others are asked about later)?")
    assert writes(workspace) == []


async def test_a_destructive_call_with_no_budget_left_asks_nobody(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """Our pacing keeps 54 closes a minute: the 55th is refused before the person is bothered with a question
    whose yes could not be acted on."""
    mine = [c.chat_id for c in workspace.my_chats() if c.chat_id != Q2][:54]
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True},
                                                                                       seen)) as client:  # fmt: skip
        first = await client.call_tool("close_chats", {"chat_ids": mine[:50]})
        second = await client.call_tool("close_chats", {"chat_ids": mine[50:54]})
        asked = len(seen)
        refused = await client.call_tool("close_chat", {"chat_id": Q2})
    assert not first.is_error and not second.is_error and asked == 2
    assert refused.is_error and "nobody was asked" in text(refused) and len(seen) == asked
    assert not workspace.chats[Q2].closed and len(writes(workspace)) == 54
    assert all(r.path != f"/api/v3/chats/{Q2}" for r in api_calls(workspace))  # not even read for a question


async def test_an_accounts_server_out_of_reach_is_named_not_cliq(tmp_path: Path) -> None:
    # The access token's request failed to connect (Cliq itself was never reached): the message names the accounts
    # server and the setting that points at it.
    nowhere = "http://127.0.0.1:9"  # nothing listens on port 9: the connection is refused at once
    settings = Settings.from_env({
        "CLIQ_CLIENT_ID": "1000.CLIENT", "CLIQ_CLIENT_SECRET": "client-secret-0123", "CLIQ_REFRESH_TOKEN": "1000.rt",
        "CLIQ_ACCOUNTS_URL": nowhere, "CLIQ_API_BASE_URL": f"{nowhere}/api/v3", "XDG_STATE_HOME": str(tmp_path),
    })  # fmt: skip
    time = FakeTime()
    async with Client(build_server(settings, sleep=time.sleep, clock=time, wall_clock=time)) as client:
        result = await client.call_tool("list_chats", {"limit": 1})
    assert result.is_error and "Could not reach Zoho's accounts server" in result.content[0].text
    assert "CLIQ_ACCOUNTS_URL" in result.content[0].text and "client-secret" not in result.content[0].text
