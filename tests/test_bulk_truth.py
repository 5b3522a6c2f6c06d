"""Batches say per chat what happened: done, failed (Cliq refused it), may_have_been_applied (the request
left and its answer was lost or an error), not_sent (after a throttle), unconfirmed (not in Cliq's answer).
A throttle stops the batch; a batch in which nothing was done is an error that still lists every chat."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ALICE, ALICE_LAST, Q2, Cliq, answering, writes
from mcp import Client
from simulated_cliq import Fault, Workspace

BUSY = {"error": {"code": "rate_limit_exceeded", "message": "Too many requests"}}
GONE = {"code": "chat_access_denied", "message": "No such chat"}
DOWN = {"code": "service_unavailable", "message": "Service unavailable"}
BOB = "2890538000000067890"


def five(workspace: Workspace) -> list[str]:
    return [c.chat_id for c in workspace.my_chats()[:5]]


async def close_chats(cliq: Cliq, chat_ids: list[str], era: str = "auto", **env: str) -> Any:
    settings = cliq.settings(CLIQ_PACING="off", **env)
    accept = answering("accept", {"confirm": True})
    async with Client(cliq.server(settings), mode=era, elicitation_callback=accept) as client:
        return await client.call_tool("close_chats", {"chat_ids": chat_ids})


def outcomes(result: Any) -> list[tuple[str, str]]:
    return [(i["chat_id"], i["outcome"]) for i in result.structured_content["items"]]


def closed(workspace: Workspace) -> list[str]:
    return [w.path.rsplit("/", 1)[1] for w in writes(workspace)]


async def test_a_throttle_stops_the_batch_and_the_rest_is_not_sent(cliq: Cliq, workspace: Workspace, era: str) -> None:
    ids = five(workspace)
    busy = workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                                  body=BUSY, headers={"Retry-After": "600"}))  # fmt: skip
    result = await close_chats(cliq, ids, era)
    assert result.is_error is False, result.content[0].text
    assert outcomes(result) == [(ids[0], "done"), (ids[1], "failed"), *((c, "not_sent") for c in ids[2:])]
    items = result.structured_content["items"]
    assert items[1]["reason"] == "throttled; retry in 600 s"
    assert {i["reason"] for i in items[2:]} == {"after a throttle; retry in 600 s"}
    assert busy.taken == 1 and closed(workspace) == ids[:2]  # nothing reached Cliq for chats 3 to 5
    text = result.content[0].text
    assert f"not sent (after a throttle; retry in 600 s): {', '.join(ids[2:])}" in text
    assert text.splitlines()[0] == "Done: 1 of 5 chat(s) done."


async def test_a_throttle_on_the_first_chat_is_an_error_listing_every_chat(cliq: Cliq, workspace: Workspace) -> None:
    ids = five(workspace)
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[0]}", kind="status", status=429,
                           body=BUSY))  # fmt: skip
    result = await close_chats(cliq, ids)
    text = result.content[0].text
    assert result.is_error is True and text.startswith("Done: 0 of 5 chat(s) done.")
    # No Retry-After, and the notes document no lock for closing: no wait is invented.
    assert f"failed (throttled; retry later): {ids[0]}" in text
    assert f"not sent (after a throttle; retry later): {', '.join(ids[1:])}" in text
    assert closed(workspace) == ids[:1]


@pytest.mark.parametrize(
    ("status", "body", "outcome", "needle"),
    [(500, DOWN, "may_have_been_applied", "HTTP 500"), (503, DOWN, "may_have_been_applied", "HTTP 503"),
     (404, GONE, "failed", "HTTP 404"), (400, GONE, "failed", "chat_access_denied")],
    ids=["500", "503", "404", "400"],
)  # fmt: skip
async def test_an_error_answer_mid_batch_is_that_chats_outcome(
    cliq: Cliq, workspace: Workspace, status: int, body: Any, outcome: str, needle: str
) -> None:
    ids = five(workspace)
    fault = workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status",
                                   status=status, body=body))  # fmt: skip
    result = await close_chats(cliq, ids)
    assert result.is_error is False
    assert outcomes(result) == [(c, outcome if c == ids[1] else "done") for c in ids]
    assert needle in result.structured_content["items"][1]["reason"]
    assert f"{outcome.replace('_', ' ')} (" in result.content[0].text
    assert fault.taken == 1 and closed(workspace) == ids  # the failed one was not repeated; the rest went on


@pytest.mark.parametrize("kind", ["drop", "stall"])
async def test_a_lost_answer_mid_batch_may_have_been_applied(
    cliq_socket: Cliq, workspace: Workspace, era: str, kind: str
) -> None:
    ids = five(workspace)
    lost = workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[2]}", kind=kind))  # type: ignore[arg-type]
    result = await close_chats(cliq_socket, ids, era, CLIQ_TIMEOUT="0.3")
    assert result.is_error is False, result.content[0].text
    assert outcomes(result) == [(c, "may_have_been_applied" if c == ids[2] else "done") for c in ids]
    reason = result.structured_content["items"][2]["reason"]
    assert ("closed the connection" if kind == "drop" else "did not answer in time") in reason
    assert f"may have been applied ({reason}): {ids[2]}" in result.content[0].text
    assert lost.taken == 1 and closed(workspace) == ids  # sent once each


async def test_a_batch_where_every_chat_failed_is_an_error_that_lists_each(cliq: Cliq, workspace: Workspace) -> None:
    ids = five(workspace)[:3]
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[0]}", kind="status", status=404, body=GONE))
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=500, body=DOWN))
    workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[2]}", kind="status", status=404, body=GONE))
    result = await close_chats(cliq, ids)
    text = result.content[0].text
    assert result.is_error is True and text.startswith("Done: 0 of 3 chat(s) done.")
    assert f": {ids[0]}, {ids[2]}" in text and "may have been applied (" in text and ids[1] in text
    assert "Check those that may have been applied" in text
    # An error result, and still each chat's outcome for programs.
    outcomes = [(item["chat_id"], item["outcome"]) for item in result.structured_content["items"]]
    assert outcomes == [(ids[0], "failed"), (ids[1], "may_have_been_applied"), (ids[2], "failed")]
    assert closed(workspace) == ids


READ = {"chats": [{"chat_id": ALICE, "message_id": ALICE_LAST}, {"chat_id": BOB, "message_id": ALICE_LAST},
                  {"chat_id": Q2, "message_id": ALICE_LAST}]}  # fmt: skip


async def test_mark_chats_read_reads_failure_objects_and_chats_cliq_did_not_mention(
    client: Client, workspace: Workspace
) -> None:
    answer = {"type": "chat.read_status",
              "data": {"success": [ALICE], "failure": [{"chat_id": BOB, "code": "invalid_message_id"}]}}  # fmt: skip
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=200, body=answer))
    result = await client.call_tool("mark_chats_read", READ)
    assert result.is_error is False
    assert result.structured_content["items"] == [
        {"chat_id": ALICE, "outcome": "done"},
        {"chat_id": BOB, "outcome": "failed", "reason": "Cliq: invalid_message_id"},
        {"chat_id": Q2, "outcome": "unconfirmed", "reason": "not in Cliq's answer"},
    ]
    text = result.content[0].text
    assert f"failed (Cliq: invalid_message_id): {BOB}" in text and f"unconfirmed (not in Cliq's answer): {Q2}" in text
    assert len(writes(workspace)) == 1


async def test_mark_chats_read_with_nothing_done_is_an_error(client: Client, workspace: Workspace) -> None:
    answer = {"type": "chat.read_status", "data": {"success": [], "failure": [ALICE, {"chat_id": BOB}]}}
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=200, body=answer))
    result = await client.call_tool("mark_chats_read", READ)
    text = result.content[0].text
    assert result.is_error is True and text.startswith("Marked read: 0 of 3 chat(s) done.")
    assert f"{ALICE}, {BOB}" in text and f"unconfirmed (not in Cliq's answer): {Q2}" in text


async def test_clear_unread_counts_reads_a_body_that_reports_failures(client: Client, workspace: Workspace) -> None:
    answer = {"type": "chat.read_status", "data": {"success": [ALICE], "failure": [{"chat_id": BOB, "message": "no"}]}}
    workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=200, body=answer))
    result = await client.call_tool("clear_unread_counts", {"chat_ids": [ALICE, BOB, Q2]})
    assert result.is_error is False
    assert [(i["chat_id"], i["outcome"]) for i in result.structured_content["items"]] == [
        (ALICE, "done"), (BOB, "failed"), (Q2, "unconfirmed")
    ]  # fmt: skip
    assert len(writes(workspace)) == 1


async def test_clear_unread_counts_204_is_done_for_each(client: Client, workspace: Workspace) -> None:
    result = await client.call_tool("clear_unread_counts", {"chat_ids": [ALICE, BOB]})
    assert result.structured_content == {"items": [{"chat_id": ALICE, "outcome": "done"},
                                                   {"chat_id": BOB, "outcome": "done"}], "complete": True}  # fmt: skip
    # Every chat done: the text is the count alone (the ids are the call's own, and in the structured content).
    assert result.content[0].text == "Cleared unread counts: 2 of 2 chat(s) done."
