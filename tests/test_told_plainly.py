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


# --- a second trial over the whole surface ------------------------------------------------------------------------


async def test_a_search_cut_at_its_limit_continues_as_the_same_search(client: Client, workspace: Workspace) -> None:
    """search_chats {"name": "Team"} stopped at 20 and offered continue_with {"limit": 100}: followed, it listed
    the 100 latest chats of any name, all taken for matches."""
    cut = await client.call_tool("search_chats", {"name": "e", "limit": 5})
    again = cut.structured_content["continue_with"]
    assert again == {"name": "e", "limit": 25}, again
    more = await client.call_tool("search_chats", again)
    assert all("e" in c["name"].casefold() for c in more.structured_content["chats"])


async def test_a_search_says_how_to_learn_the_counts_it_lacks_with_a_call_that_works(
    client: Client, workspace: Workspace
) -> None:
    """search_chats said "the same list_chats call with unread=true reads every count": search takes no unread."""
    result = await client.call_tool("search_chats", {"name": "e", "limit": 50})
    note = next(x for x in text(result).splitlines() if x.startswith("Unread ? ("))
    assert "list_chats with unread=true reads every count" in note and "the same" not in note


async def test_a_policy_preview_says_an_unknown_unread_count_is_unknown(client: Client, workspace: Workspace) -> None:
    """preview_policy's close reasons said "3 unread" where Cliq told it and nothing where it did not: a close of
    chats with unread messages read as a close of read ones."""
    policy = "[close]\nchat_types = ['group_chat']\ninactive_days = 30\n[limits]\nmax_acts = 200\n"
    result = await client.call_tool("preview_policy", {"policy": policy})
    planned = [c for c in result.structured_content["chats"] if c.get("tool")]
    assert any("unread ?" in c["reason"] for c in planned)
    hidden = [c["chat_id"] for c in planned if workspace.chats[c["chat_id"]].unread and "unread" not in c["reason"]]
    assert not hidden  # no chat with unread messages reads as a read one


async def test_muting_says_where_the_mute_state_can_be_seen(client: Client, workspace: Workspace) -> None:
    """After mute_chat no list line or get_chat showed "muted" (Zoho's chat object has no mute field): a model
    checking its work took the mute for failed."""
    bot = next(c for c in workspace.my_chats() if c.chat_type == "bot" and not c.muted)
    result = await client.call_tool("mute_chat", {"chat_id": bot.chat_id})
    assert "list_chats with muted=true" in text(result)
    listed = await client.call_tool("list_chats", {"muted": True})
    assert any(line.startswith(bot.chat_id) and line.endswith("muted") for line in text(listed).splitlines())


async def test_the_unread_view_says_a_limit_does_not_apply(client: Client) -> None:
    result = await client.call_tool("list_chats", {"unread": True, "limit": 5, "chat_type": "bot"})
    assert "(limit does not apply: unread=true walks every chat, 100 a page)" in text(result)


async def test_the_tidy_prompt_closes_by_the_plan_not_by_ids_the_answer_does_not_show(client: Client) -> None:
    """tidy_my_chats asked to close "exactly those chat_ids", while plan_tidy shows five and a plan handle."""
    prompt = await client.get_prompt("tidy_my_chats", {"inactive_days": "90"})
    said = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert "close_chats with its plan handle" in said and "chat_ids" not in said
