"""A used yes stays used when its claim is deleted in Redis (by someone without the guard secret: claim keys are
plain, and named): a trust-host token, a 2026-07-28 answer, a kept yes, and a kept yes the person withdrew, tried
again at another process (a replica, a worker, a restarted server) that never made the claim itself. Each record a
yes rests on is used up when claimed, so deleting the claim leaves nothing to act on."""

from __future__ import annotations

from typing import Any

import redis
from conftest import Q2, Cliq, writes
from mcp import Client
from mcp.types import ElicitResult
from simulated_cliq import Fault, Workspace

SECRET = "replicas-share-this-secret-0123"
PERSON = "106324287"


def wipe_claims(redis_url: str, kind: str) -> list[bytes]:
    """Someone with Redis access, no guard secret: claims are plain keys, named cliq-mcp:<account>:<kind>:<v>."""
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=f"cliq-mcp:*:{kind}:*"))
    keys = [k for k in keys if not k.startswith(b"cliq-mcp:kept:")]
    if keys:
        r.delete(*keys)
    return keys


async def test_trust_host_token_acts_twice_after_its_claim_is_deleted(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    settings = cliq.settings(
        CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_GUARD="trust-host", CLIQ_PACING="off"
    )
    args = {"chat_id": Q2, "user_ids": [PERSON]}
    async with Client(cliq.server(settings)) as one:  # replica 1
        preview = (await one.call_tool("remove_chat_members", args)).structured_content["preview"]
        token = preview["confirmation_token"]
        done = await one.call_tool("remove_chat_members", {**args, "confirmation_token": token})
    assert done.is_error is False, done.content
    workspace.chats[Q2].members.append(PERSON)  # the person is back in the chat (re-added by someone)
    deleted = wipe_claims(redis_url, "token")
    assert deleted, "no token claim found"
    async with Client(cliq.server(settings)) as two:  # replica 2 (or worker 2): never saw the claim itself
        replay = await two.call_tool("remove_chat_members", {**args, "confirmation_token": token})
    assert replay.is_error is True, f"token acted twice: {replay.content[0].text[:200]}"
    assert len(writes(workspace)) == 1


async def test_2026_answer_acts_twice_after_its_claim_is_deleted(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    from mcp.types import ElicitResult, InputRequiredResult

    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_PACING="off")
    args = {"chat_id": Q2}

    async def answer(context: Any, params: Any) -> Any:
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(settings), mode="auto", elicitation_callback=answer) as one:
        asked = await one.session.call_tool("clear_chat_history", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        first = await one.call_tool("clear_chat_history", args, input_responses=yes, request_state=asked.request_state)
    assert first.is_error is False, first.content
    assert wipe_claims(redis_url, "answer"), "no answer claim found"
    async with Client(cliq.server(settings), mode="auto", elicitation_callback=answer) as two:  # another replica
        replay = await two.call_tool("clear_chat_history", args, input_responses=yes, request_state=asked.request_state)
    assert replay.is_error is True, f"answer acted twice: {replay.content[0].text[:200]}"
    assert len(writes(workspace)) == 1


THROTTLED_BODY = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}


async def test_a_withdrawn_kept_yes_acts_after_its_claim_is_deleted(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    """close_chats cut short keeps the yes for the chat not sent; the person then says NO to closing it
    (withdrawal = a kept-yes claim). Deleting that claim lets another process close the chat unasked."""
    from mcp.types import ElicitResult
    from simulated_cliq import Fault

    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET)
    ids = [c.chat_id for c in workspace.chats.values() if c.chat_type == "group_chat" and not c.closed][:3]
    seen: list[Any] = []

    async def person(context: Any, params: Any) -> Any:
        seen.append(params)
        if len(seen) == 1:
            return ElicitResult(action="accept", content={"confirm": True})
        return ElicitResult(action="decline")  # every later question: no

    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=person) as one:
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await one.call_tool("close_chats", {"chat_ids": ids})
        assert [i["outcome"] for i in cut.structured_content["items"]] == ["done", "failed", "not_sent"]
        cliq.time.advance(30)
        no = await one.call_tool("close_chats", {"chat_ids": [ids[2], ids[1]]})  # the person says no
        assert no.is_error and len(seen) == 2
    wipe_claims(redis_url, "kept-yes")  # whatever claims there are (a kept yes is now used up in its record)
    wipe_claims(redis_url, "yes")
    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=person) as two:
        after = await two.call_tool("close_chats", {"chat_ids": [ids[2]]})
    assert not (workspace.chats[ids[2]].closed and len(seen) == 2), (
        f"closed {ids[2]} unasked after the person said no: {after.content[0].text[:200]}"
    )


async def test_a_used_kept_yes_acts_again_after_its_claim_is_deleted(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    """The kept yes is used (chat closed, 'earlier yes'); the chat comes back (a new message reopens it);
    its claim is deleted in Redis; another process closes it again without asking anyone."""
    from mcp.types import ElicitResult
    from simulated_cliq import Fault

    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET)
    ids = [c.chat_id for c in workspace.chats.values() if c.chat_type == "group_chat" and not c.closed][:3]
    seen: list[Any] = []

    async def person(context: Any, params: Any) -> Any:
        seen.append(params)
        return ElicitResult(
            action="accept" if len(seen) == 1 else "decline", content={"confirm": True} if len(seen) == 1 else None
        )

    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=person) as one:
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        await one.call_tool("close_chats", {"chat_ids": ids})
        cliq.time.advance(30)
        used = await one.call_tool("close_chats", {"chat_ids": [ids[2]]})  # the earlier yes acts, once
        assert used.is_error is False and len(seen) == 1 and workspace.chats[ids[2]].closed
    workspace.chats[ids[2]].closed = False  # the chat is back in the list
    wipe_claims(redis_url, "kept-yes")
    wipe_claims(redis_url, "yes")  # and the used-up record itself: nothing stands then, and nothing acts
    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=person) as two:
        again = await two.call_tool("close_chats", {"chat_ids": [ids[2]]})
    assert not (workspace.chats[ids[2]].closed and len(seen) == 1), (
        f"one yes closed {ids[2]} twice: {again.content[0].text[:200]}"
    )


# A kept yes stands until the time sealed in it, by the server's clock: a key's TTL changed in Redis (PEXPIRE, no
# secret needed) gives it no more time.
TTL = 3


def kept_keys(r: redis.Redis) -> list[bytes]:
    return [k for k in r.scan_iter(match="cliq-mcp:kept:*:yes:*")]


async def cut_batch(cliq: Cliq, workspace: Workspace, settings: Any, seen: list[Any]) -> list[str]:
    ids = [c.chat_id for c in workspace.chats.values() if c.chat_type == "group_chat" and not c.closed][:3]

    async def person(context: Any, params: Any) -> Any:
        seen.append(params)
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=person) as one:
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await one.call_tool("close_chats", {"chat_ids": ids})
        assert [i["outcome"] for i in cut.structured_content["items"]] == ["done", "failed", "not_sent"]
    return ids


def nobody(seen: list[Any]):
    async def person(context: Any, params: Any) -> Any:
        seen.append(params)
        return ElicitResult(action="decline")

    return person


async def test_a_kept_yes_given_a_longer_life_in_redis_does_not_outlive_confirm_ttl(
    cliq: Cliq, workspace: Workspace, redis_url: str
) -> None:
    settings = cliq.settings(CLIQ_STATE_URL=redis_url, CLIQ_GUARD_SECRET=SECRET, CLIQ_CONFIRM_TTL=str(TTL))
    seen: list[Any] = []
    ids = await cut_batch(cliq, workspace, settings, seen)
    r = redis.Redis.from_url(redis_url)
    keys = kept_keys(r)
    assert keys, "no kept yes"
    for k in keys:  # the attacker, no secret: only the key's TTL changes
        r.pexpire(k, 86_400_000)
    cliq.time.advance(3600)  # an hour later by the server's own clock (the key, in Redis, lives on for a day)
    later: list[Any] = []
    async with Client(cliq.server(settings), mode="legacy", elicitation_callback=nobody(later)) as two:
        done = await two.call_tool("close_chats", {"chat_ids": [ids[2]]})
    assert not workspace.chats[ids[2]].closed, (
        f"closed {ids[2]} on a yes given over an hour ago (CLIQ_CONFIRM_TTL={TTL}), nobody asked "
        f"(questions since: {len(later)}): {done.content[0].text[:200]}"
    )
