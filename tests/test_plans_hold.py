"""Attacks on plans kept by reference (plan_tidy -> close_chats / clear_unread_counts {"plan": handle}), the yes
kept for a batch cut short, and the follow-ups that default to a chat's latest message.

Each test failed against the code before its fix, for the reason its docstring gives (an attacking review
found them). Severity: P1 = a destructive act without a visible yes (or twice on one yes); P2 = an untrue
answer (or an act on a stale judgement the answer does not own up to); P3 = robustness."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from conftest import Cliq, answering, api_calls, approve_with, audit_lines, guarded, text, writes
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

THROTTLED_BODY = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}


def closes(workspace: Workspace) -> list[str]:
    return [w.path.rsplit("/", 1)[-1] for w in writes(workspace) if w.method == "PUT" and w.json == {
        "operation": "close_chat"}]  # fmt: skip


def throttle_close(workspace: Workspace, chat_id: str, wait: int = 30) -> Fault:
    """Cliq throttles the close of ``chat_id`` (429 with Retry-After): that chat fails, the rest are not sent."""
    return workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{chat_id}", kind="status", status=429,
                                  body=THROTTLED_BODY, headers={"Retry-After": str(wait)}))  # fmt: skip


def scripted(answers: list[str], seen: list[ElicitRequestParams]) -> Any:
    """An elicitation callback that gives ``answers`` in turn ("accept" = yes, anything else = that action)."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)
        action = answers[len(seen) - 1]
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)

    return callback


def now_ms() -> int:
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------------------------
# P2: a plan whose kept batch is all left alone is reported empty while it still holds chats
# ---------------------------------------------------------------------------------------------------------------


async def test_a_kept_batch_all_left_alone_is_not_reported_as_the_plan_being_empty(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- untrue answer: "plan has no chats left", left_in_plan=0, complete=true, while 10 chats remain.

    A batch cut short by a throttle keeps its not-sent chats as the plan's next batch (Plan.batch). When every
    one of those is no longer due at the next call (someone wrote in them, pinned them, closed them), by_plan
    only looks at the kept batch (``candidates = due`` = Plan.next_batch = the batch), finds nothing due, and
    raises NothingToDo("plan … has no chats left to close", left_in_plan=0, complete=True) -- although the plan
    still holds every chat after the batch. The model is told the tidy-up is finished and stops; the next call
    (which it has no reason to make) would have gone on.

    Fix: in by_plan, when the kept batch yields nothing due, fall through to ``list(plan.close)`` minus the
    chats just left alone (i.e. treat ``plan.batch or list(plan.close)`` as a prefix, then continue with the
    rest), and compute left_in_plan from the plan after settling instead of hard-coding 0."""
    yes = answering("accept", {"confirm": True}, [])
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 60})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        assert len(ids) == 60
        throttle_close(workspace, ids[47])  # 47 fails, 48 and 49 are approved and not sent: the kept batch
        cut = await client.call_tool("close_chats", {"plan": handle})
        assert cut.structured_content["left_in_plan"] == 13, text(cut)  # the throttled one stays, to ask again
        for chat_id in ids[48:50]:  # someone writes in both before the call for the rest
            workspace.chats[chat_id].modified_ms = now_ms()
        cliq.time.advance(30)
        after = await client.call_tool("close_chats", {"plan": handle})
    data = after.structured_content
    remaining = [c for c in ids[50:] if not workspace.chats[c].closed]
    assert not (remaining and data.get("left_in_plan") == 0), (
        f"told left_in_plan=0 / complete={data.get('complete')} ({text(after)!r}) while {len(remaining)} chats of "
        "the plan were never closed"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2/P3: a kept yes used by a batch that is cut short again is burnt: "not asked about again" is untrue, and the
# plan is stuck on an error that tells the model to do what cannot help
# ---------------------------------------------------------------------------------------------------------------


async def test_a_kept_yes_batch_cut_short_again_can_still_be_finished(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 (untrue answer) / P3 (stuck plan).

    Call 1: the person approves 8 chats, a throttle at the 4th leaves 4 not sent; their yes is kept
    (Guard._keep_yes). Call 2: acts on those 4 with the kept yes (Guard._kept_yes claims each kept nonce), and a
    second throttle leaves 2 of them not sent; the answer says "the 2 not sent were approved already and are not
    asked about again". But the kept-yes path never keeps a yes again, and the store still holds the old kept
    entries whose nonces are now claimed: call 3 finds them, their lines still match, the claim fails, and it
    raises "that yes was already used … Call close_chats again to ask the person again" -- which repeats the same
    failure (nobody is asked) until CLIQ_CONFIRM_TTL after call 1's question. The answer of call 2 was untrue and
    the plan cannot be finished meanwhile.

    Fix: after acting on a kept yes, keep the yes again (fresh nonces, the same expiry as the original question)
    for the chats not sent -- or delete the kept entries once claimed, and when a kept nonce turns out to be
    claimed, fall through to asking the person instead of raising. Only promise "not asked about again" when a
    yes was actually kept."""
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        throttle_close(workspace, ids[3])
        await client.call_tool("close_chats", {"plan": handle})
        cliq.time.advance(30)
        throttle_close(workspace, ids[5])  # the kept-yes batch (ids[4:8]) is cut short too: 6 and 7 not sent
        second = await client.call_tool("close_chats", {"plan": handle})
        assert len(seen) == 1, "the kept yes was used"
        assert "not asked about again" in text(second), text(second)
        cliq.time.advance(30)
        third = await client.call_tool("close_chats", {"plan": handle})
    promised_and_kept = not third.is_error and all(workspace.chats[c].closed for c in ids[6:8])
    asked_again = len(seen) == 2 and all(workspace.chats[c].closed for c in ids[6:8])
    assert promised_and_kept or asked_again, (
        f"call 2 promised the rest would not be asked about; call 3: {text(third)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P1: a person's later "no" about the same chats does not withdraw the yes kept for them
# ---------------------------------------------------------------------------------------------------------------


async def test_a_later_no_about_the_same_chats_withdraws_the_kept_yes(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P1 -- a destructive act against the person's latest answer.

    A batch cut short keeps the person's yes for the chats not sent (R). The model then asks about R again,
    together with one more chat (close_chats {"chat_ids": R + [other]}): not every chat is kept, so the person is
    asked, sees R listed once more, and says NO ("Not done: the person declined"). The kept yes for R is left in
    the store, unclaimed: the very next close_chats {"plan": handle} acts on R without asking anyone. The last
    thing the person said about those chats was no; the model turned it into a yes by choosing which call to
    make.

    Fix: when a person declines (or cancels) a question, forget every kept yes for the chats that question
    listed (delete ``<account>:yes:<tool>:<chat>`` for each chat in ``asked.per_chat``) before raising; or bind a
    kept yes to the plan/handle that made it and refuse it once the same chats were put to the person again."""
    seen: list[ElicitRequestParams] = []
    person = scripted(["accept", "decline", "accept"], seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=person) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        throttle_close(workspace, ids[3])
        await client.call_tool("close_chats", {"plan": handle})  # yes; 4..7 approved and not sent
        rest = ids[4:8]
        cliq.time.advance(30)
        other = next(c for c, chat in workspace.chats.items() if c not in ids and not chat.closed)
        declined = await client.call_tool("close_chats", {"chat_ids": [*rest, other]})
        assert declined.is_error and "decline" in text(declined), (text(declined), len(seen))
        assert all(c in seen[1].message for c in rest)  # the person was shown the same chats, and said no
        after = await client.call_tool("close_chats", {"plan": handle})
    acted_unasked = [c for c in rest if workspace.chats[c].closed] if len(seen) == 2 else []
    assert not acted_unasked, (
        f"closed {len(acted_unasked)} chats right after the person said no to closing them ({text(after)!r})"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: the store failing after the acts turns 8 closed chats into "nothing was sent"
# ---------------------------------------------------------------------------------------------------------------


async def test_a_store_failure_after_the_acts_does_not_say_nothing_was_sent(
    cliq: Cliq, tmp_path: Path, workspace: Workspace, era: str
) -> None:
    """P2 -- untrue answer (and audit line).

    close_chats {"plan": handle} acts on every chat of the batch, then apply_each calls walks.settle ->
    Plans.settle, which reads and writes the state store. If the store fails there (SQLite locked/readonly disk,
    Redis down), StateUnavailable propagates out of the runner: the tool answers with an error saying "… could
    not be used, so nothing was sent", the audit log's closing line says outcome "failed", and the per-chat
    outcomes are lost -- although every chat was closed. A model that believes the answer retries, and the plan
    still lists the closed chats.

    Fix: in apply_each / clear_unread, settle in a try: on CliqError return the items anyway, with
    left_in_plan=None and a why such as "the plan could not be updated (state store …): call plan_tidy again";
    never let a bookkeeping failure after acting replace the account of what was done."""
    state = tmp_path / "cliq-mcp" / "state.sqlite3"

    def break_the_store() -> None:  # the state file is replaced by something SQLite cannot open
        for name in (state, Path(f"{state}-wal"), Path(f"{state}-shm")):
            name.unlink(missing_ok=True)
        state.mkdir()

    settings = guarded(cliq, tmp_path)
    yes = answering("accept", {"confirm": True}, [])
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        # The store goes away while the last chat is being closed (after the plan was read and the person asked).
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[-1]}", kind="hook",
                               then=break_the_store))  # fmt: skip
        done = await client.call_tool("close_chats", {"plan": handle})
    assert all(workspace.chats[c].closed for c in ids)  # every chat was closed
    last = [line for line in audit_lines(tmp_path) if line.get("tool") == "close_chats"][-1]
    assert not done.is_error and "nothing was sent" not in text(done), (
        f"8 chats closed, the model was told: {text(done)!r}; audit outcome {last.get('outcome')!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P3: a chat this server may not write to blocks its plan for good
# ---------------------------------------------------------------------------------------------------------------


async def test_a_plan_with_a_chat_on_the_deny_list_can_still_close_the_others(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P3 -- a plan that can never be carried out (and repeated questions that cannot succeed).

    plan_tidy does not consult client.write_barred (CLIQ_DENY_CHATS / CLIQ_WRITE_CHATS), unlike preview_policy
    and `cliq-mcp tidy`, which plan such chats as left alone. So it proposes a denied chat; close_chats
    {"plan": handle} puts it in the batch, and Guard._decide_about refuses the whole batch ("writing to chat …
    is not allowed"). Nothing is settled, so every further call takes the same batch and is refused again: none
    of the plan's other chats can ever be closed through the plan, and the plan's answer told the model to
    close them.

    Fix: plan_tidy should leave barred chats out (reporting them, as housekeeping.plan does with ``barred``),
    and by_plan should leave a barred chat alone (outcome left_alone, reason from write_barred) rather than pass
    it to the guard."""
    async with Client(cliq.server(settings), mode=era) as client:
        first = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 5})
    denied = first.structured_content["actions"][2]["chat_id"]
    barred = cliq.settings(CLIQ_DENY_CHATS=denied)
    yes = answering("accept", {"confirm": True}, [])
    async with Client(cliq.server(barred), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 5})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        answers = [await client.call_tool("close_chats", {"plan": handle}) for _ in range(3)]
    others = [c for c in ids if c != denied]
    assert others and any(workspace.chats[c].closed for c in others), (
        f"plan proposes the denied chat: {denied in ids}; three calls answered {[text(a)[:90] for a in answers]}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: clear_unread_counts by plan marks read messages that arrived after the plan, unannounced
# ---------------------------------------------------------------------------------------------------------------


def new_message(workspace: Workspace, chat_id: str, words: str) -> None:
    """Someone writes in the chat now: a new message, unread by us, and the chat's last activity moves."""
    from cliq_mcp.sandbox.state import Message

    chat = workspace.chats[chat_id]
    at = now_ms()
    chat.messages.append(Message(f"{at}_99", chat.members[-1], at, words))
    chat.modified_ms = at
    chat.unread += 1


async def test_clear_unread_by_plan_leaves_alone_a_chat_written_in_since_the_plan(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- an act on a stale judgement, reported as plainly done.

    plan_tidy proposes "mark read" for a chat because it has had unread messages and no activity for
    unread_days ("3 unread since 2025-…"). close_chats by plan re-reads each chat and leaves alone one active
    since the plan; clear_unread_counts by plan does not: Plan.clear keeps only ids (not the last activity), and
    walks.clear_unread sends them straight to Cliq. A message that arrived after the plan (an urgent one,
    say) is marked read, and the answer says "Cleared the unread counts of N of the N chat(s)" as though the
    proposal still held. tools/plans.py itself says "A plan only proposes: every chat is read again before an act".

    Fix: keep each clear proposal's last activity (as Plan.close does), read the batch with chat_states before
    the clear request (one list request per 100 ids), and leave alone (report) the chats active since the plan."""
    async with Client(cliq.server(settings), mode=era) as client:
        planned = await client.call_tool("plan_tidy", {"unread_days": 30})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        urgent = ids[0]
        new_message(workspace, urgent, "URGENT: the release is blocked, please answer today")
        done = await client.call_tool("clear_unread_counts", {"plan": handle})
    outcome = {i["chat_id"]: i["outcome"] for i in done.structured_content["items"]}.get(urgent, "done")
    assert workspace.chats[urgent].unread > 0 and outcome == "left_alone", (
        f"the message that came after the plan was marked read (unread now {workspace.chats[urgent].unread}, "
        f"outcome {outcome!r}): {text(done)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: "Plan … is done: nothing is left in it" (complete=true) for a plan whose walk stopped half-way
# ---------------------------------------------------------------------------------------------------------------


async def test_a_plan_from_an_incomplete_walk_is_not_reported_done(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- untrue answer: complete=true / "Plan … is done" while plan_tidy had checked 125 of 200+ chats.

    plan_tidy {"unread_days": 30} on the sandbox stops NOT complete (get_chat's rate budget; it gives a
    next_token) after proposing 49 chats, and keeps the plan with Plan.complete = False. clear_unread_counts
    {"plan": handle} (and close_chats alike) then answers "Plan … is done: nothing is left in it." with
    structuredContent.complete = true and no continue_with. Plan.complete is stored but never read: the answer
    a program trusts for "finished" says finished about a tidy-up of which a third of the chats was never
    judged (and the NothingToDo answer says the same, complete=true, for a plan that proposed nothing yet but
    whose walk has a cursor).

    Fix: in plan_batch (and by_plan's NothingToDo), when the plan's walk was not complete, answer
    complete=false with why "plan_tidy did not check every chat" and point to plan_tidy's continuation (the
    cursor is the model's; or keep the last continue_with in the plan and hand it back)."""
    async with Client(cliq.server(settings), mode=era) as client:
        planned = await client.call_tool("plan_tidy", {"unread_days": 30})
        assert planned.structured_content["complete"] is False and planned.structured_content["next_token"]
        handle = planned.structured_content["plan"]
        done = await client.call_tool("clear_unread_counts", {"plan": handle})
    assert done.structured_content["complete"] is False and "is done" not in text(done), (
        f"plan_tidy said NOT complete ({planned.structured_content['why']}); acting on its plan says: {text(done)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: a plan_tidy continuation sent twice (a client retry) proposes the same chats twice
# ---------------------------------------------------------------------------------------------------------------


async def test_a_repeated_continuation_does_not_propose_a_chat_twice(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- wrong counts, and duplicate ids sent to Cliq.

    plan_tidy's cursor carries the plan handle; each continuation recalls the plan and appends its proposals
    (``kept.clear.append`` -- a list, unlike Plan.close, a dict). A continuation sent twice with the same
    next_token (a client or model retrying after a timeout; nothing makes a cursor single-use) appends the same
    chats again: the plan says "mark 9 read" for 6 chats, clear_unread_counts by plan sends a chat_ids list with
    duplicates and answers "Cleared … of the 9 chat(s)", and left_in_plan counts ids, not chats.

    Fix: de-duplicate when adding to Plan.clear (``if chat_id not in kept.clear``, or make it a dict like
    Plan.close) and, for safety, de-duplicate next_batch; report proposed counts from the de-duplicated plan."""
    async with Client(cliq.server(settings), mode=era) as client:
        first = await client.call_tool("plan_tidy", {"unread_days": 30, "max_chats": 3})
        again = first.structured_content["continue_with"]
        assert again and first.structured_content["plan"]
        await client.call_tool("plan_tidy", again)
        twice = await client.call_tool("plan_tidy", again)  # the same continuation, retried
        handle = twice.structured_content["plan"]
        proposed = twice.structured_content["proposed"]["clear_unread_counts"]
        done = await client.call_tool("clear_unread_counts", {"plan": handle})
    (put,) = [w for w in writes(workspace) if w.json and w.json.get("operation") == "clear_unread"]
    sent = put.json["chat_ids"]
    assert len(sent) == len(set(sent)) and proposed == len(set(sent)), (
        f"plan says mark {proposed} read; {len(sent)} ids sent for {len(set(sent))} chats; answer: {text(done)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: under trust-host, "the N not sent were approved already and are not asked about again" is untrue
# ---------------------------------------------------------------------------------------------------------------


async def test_trust_host_batch_cut_short_does_not_promise_what_it_does_not_keep(
    cliq: Cliq, workspace: Workspace, era: str
) -> None:
    """P2 -- untrue answer.

    With CLIQ_GUARD=trust-host and a client without elicitation, close_chats {"plan": h} answers with a preview
    and a token; the call repeated with the token acts. When that batch is cut short (a throttle), plan_batch
    says "the 4 not sent were approved already and are not asked about again" -- but Guard._keep_yes runs only
    after a live answer, never on the token path, so the next call gives a preview and wants a new token: the
    host's prompt asks the person again, contrary to what the model was told.

    Fix: plan_batch should only say it when a yes was actually kept (have the guard report it, e.g. a flag in
    the result), or keep the yes on the token path too (bounded by the token's expiry)."""
    settings = cliq.settings(CLIQ_GUARD="trust-host")
    async with Client(cliq.server(settings), mode=era) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        preview = await client.call_tool("close_chats", {"plan": handle})
        token = preview.structured_content["preview"]["confirmation_token"]
        throttle_close(workspace, ids[3])
        cut = await client.call_tool("close_chats", {"plan": handle, "confirmation_token": token})
        assert "not asked about again" in text(cut), text(cut)
        cliq.time.advance(30)
        rest = await client.call_tool("close_chats", {"plan": handle})
    assert all(workspace.chats[c].closed for c in ids[4:]), (
        f"promised the rest would not be asked about again; the next call answered: {text(rest)[:200]!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: a kept yes lives CLIQ_CONFIRM_TTL from the act, not from the question: it acts after it expired
# ---------------------------------------------------------------------------------------------------------------


async def test_a_kept_yes_does_not_act_later_than_the_ttl_after_the_question(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- a yes acts after the confirmation expired (CLIQ_CONFIRM_TTL, 300 s by default).

    Guard._keep_yes's docstring: the yes is kept "until CLIQ_CONFIRM_TTL after the question"; serve/server.py: "nothing
    acts later than CLIQ_CONFIRM_TTL". But it is stored with ``store.put(…, self.config.token_ttl)`` after the
    act, i.e. TTL from when the batch finished, and claimed with ``clock + token_ttl`` too. A person who
    answers 290 s after the question (accepted: within the TTL), on a batch a throttle cuts short, leaves a yes
    that closes the rest ~580 s after the question, without asking again.

    Fix: carry the question's time (asked_at) into _keep_yes and store with ``asked_at + token_ttl - now`` (and
    skip keeping when that is <= 0); store the expiry in the value and check it in _kept_yes as well."""
    seen: list[ElicitRequestParams] = []

    async def slow_yes(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)
        cliq.time.advance(290)  # the person reads the 8 lines and answers just inside the 300 s
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(settings), mode=era, elicitation_callback=slow_yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 8})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        throttle_close(workspace, ids[3], wait=240)
        cut = await client.call_tool("close_chats", {"plan": handle})
        assert cut.structured_content["retry_after_s"] == 240 and len(seen) == 1, text(cut)
        cliq.time.advance(280)  # 290 + 280 = 570 s after the question: its yes expired at 300 s
        late = await client.call_tool("close_chats", {"plan": handle})
    acted_unasked = [c for c in ids[4:] if workspace.chats[c].closed] if len(seen) == 1 else []
    assert not acted_unasked, f"closed {len(acted_unasked)} chats ~570 s after the question: {text(late)!r}"


# ---------------------------------------------------------------------------------------------------------------
# P3: a plan_tidy continuation whose plan expired walks, then throws the walk away
# ---------------------------------------------------------------------------------------------------------------


async def test_a_continuation_whose_plan_expired_does_not_walk_and_discard(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P3 -- wasted requests, lost work, an untrue "Nothing was sent" and a hint that cannot be followed.

    plan_tidy's cursor names the plan it adds to. walks.plan_tidy walks first (up to 40 s of list and
    get_chat requests, drawing on the account's pacing budget) and only then recalls the plan; if the plan
    expired meanwhile (kept 15 min from its last change; Cliq's lock alone can be 10 min, and a person may take a
    break), Plans.recall raises "Nothing was sent: there is no plan … Call plan_tidy again, then plan_tidy with
    the plan it gives". Requests were sent, the walk's proposals and its cursor are discarded, and plan_tidy
    takes no plan argument.

    Fix: recall the plan before walking (fail fast, nothing sent), or, better, continue into a fresh plan (the
    cursor's criteria are the plan's) and say that the earlier proposals expired; word the hint for plan_tidy
    ("call plan_tidy again without next_token")."""
    async with Client(cliq.server(settings), mode=era) as client:
        first = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 5})
        assert first.structured_content["plan"] and first.structured_content["continue_with"]
        cliq.time.advance(1000)  # a coffee break longer than the plan's 15 min
        before = len(api_calls(workspace))
        again = await client.call_tool("plan_tidy", first.structured_content["continue_with"])
    sent = len(api_calls(workspace)) - before
    assert not again.is_error or sent == 0, f"{sent} request(s) sent, then: {text(again)!r}"
    assert "plan_tidy with the plan it gives" not in text(again), text(again)


# ---------------------------------------------------------------------------------------------------------------
# P1: 2026-07-28 + approval page: the retry waits for the click after its read, then acts without reading again
# ---------------------------------------------------------------------------------------------------------------


async def test_a_2026_page_approval_reads_the_chats_again_after_the_click(
    cliq: Cliq, settings: Settings, workspace: Workspace, url_only_client: None
) -> None:
    """P1 -- a destructive act on chats as the person did not see them (no re-check after the yes).

    Guard._decide_about skips the re-read before acting when ``ctx.input_responses`` is set ("a 2026-07-28
    retry built ``asked`` from a read made at the start of this call, and the answer is sealed to that very
    question: nothing to read twice"). That holds for form elicitation, where the answer arrives with the retry.
    With the approval page (a client with URL elicitation only, e.g. Claude Desktop), the retry reads the chats,
    then PageFlow._second_round WAITS up to CLIQ_APPROVAL_WAIT (45 s by default, up to an hour) for the
    person's click -- and after the click the guard acts on the read made before the wait. A chat someone wrote
    in (or pinned, or renamed) while the page was open is closed, though the legacy era would refuse ("the chat
    changed while the user was being asked") and close_chats by plan promises to leave it alone.

    Fix: re-read whenever time can have passed since the question's read: in _decide_about, skip the second
    build_question only for a form answer (``how == "elicitation"``), not after the approval page's wait."""
    import asyncio

    import httpx

    host = answering("accept")  # the host shows the page's link; the person agrees to open it
    async with Client(cliq.server(settings), mode="auto", elicitation_callback=host) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 3})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        first = await client.session.call_tool("close_chats", {"plan": handle}, allow_input_required=True)
        assert not isinstance(first, CallToolResult), text(first)
        (page,) = first.input_requests.values()  # the host agreed to open the page; the person has not clicked
        url = page.params.url
        tasks = []

        async def meanwhile() -> None:
            await asyncio.sleep(0.3)  # the retry has read the chats and waits for the click
            new_message(workspace, ids[0], "Please keep this one, we still use it")
            async with httpx.AsyncClient() as person:
                await approve_with(person, url)  # the person approves what the page shows (read before)

        def during_the_retry() -> None:
            tasks.append(asyncio.get_running_loop().create_task(meanwhile()))

        workspace.inject(Fault(method="GET", path_prefix="/api/v3/chats", kind="hook", then=during_the_retry))
        yes = {key: ElicitResult(action="accept") for key in first.input_requests}
        done = await client.call_tool("close_chats", {"plan": handle}, input_responses=yes,
                                      request_state=first.request_state)  # fmt: skip
        await asyncio.gather(*tasks)
    assert not workspace.chats[ids[0]].closed, (
        f"closed a chat written in while the page was open (no read after the click): {text(done)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P2: plans are read-modify-written without a lock: a continuation running beside close_chats is lost
# ---------------------------------------------------------------------------------------------------------------


async def test_proposals_added_while_a_batch_is_settled_are_not_dropped_from_the_plan(tmp_path: Path) -> None:
    """P2 -- chats silently dropped from a plan (or closed ones resurrected, depending on who writes last).

    Plans.settle (after close_chats acts) and a plan_tidy continuation adding proposals each read the plan,
    change it and write it back. MCP clients run calls concurrently, and several processes share the store: two
    writers interleaved (both read, then both write) lose one's change. Fixed with a lease on the plan around
    each read-modify-write (Plans.change); here two changes run at once on the real SQLite store."""
    from cliq_mcp.core.state_store import SqliteStore
    from cliq_mcp.tools.plans import Plan, Plans

    store = SqliteStore(tmp_path / "state.sqlite3")
    plans = Plans(store, "acct", 900)
    handle = await plans.keep(Plan(close={"1": None, "2": None, "3": None}))

    def add(plan: Plan) -> None:  # a continuation's new proposals
        plan.close.update({"4": None, "5": None})

    results = await asyncio.gather(plans.settle(handle, "close_chats", ["1", "2", "3"], []), plans.change(handle, add))
    final = await plans.recall(handle, "close_chats")
    await store.aclose()
    assert all(results) and set(final.close) == {"4", "5"}, final


# ---------------------------------------------------------------------------------------------------------------
# P2: Cliq throttling clear_unread_counts by plan empties the plan and calls it done
# ---------------------------------------------------------------------------------------------------------------


async def test_a_throttled_clear_by_plan_keeps_its_chats_for_the_retry(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P2 -- untrue answer, chats dropped from the plan.

    clear_unread_counts {"plan": h} sends the plan's next 100 chats in one request. When Cliq throttles it (429,
    or its HTTP 400 request_limit_exceeded), every chat becomes outcome "failed" with reason "throttled; retry in
    30 s" (status != 0) -- and Plans.settle forgets every "failed" chat. The answer then says "Plan … is done:
    nothing is left in it", complete=true, retry_after_s absent, while telling each chat to "retry in 30 s";
    the retry with the plan answers "Nothing to do". None of the chats was marked read (nothing was applied:
    Cliq refused the whole request before doing anything), yet up to 100 proposals are gone.

    Fix: in walks.clear_unread's plan branch, a Throttled (whatever its status) means nothing was
    applied: report the chats not_sent (keeping them in the plan) with retry_after_s, as apply_each does for
    the chats after a throttle."""
    async with Client(cliq.server(settings), mode=era) as client:
        planned = await client.call_tool("plan_tidy", {"unread_days": 30, "max_chats": 10})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        workspace.inject(Fault(method="PUT", path_prefix="/api/v3/chats", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        throttled = await client.call_tool("clear_unread_counts", {"plan": handle})
        cliq.time.advance(30)
        retried = await client.call_tool("clear_unread_counts", {"plan": handle})
    still_unread = [c for c in ids if workspace.chats[c].unread > 0]
    assert not still_unread, (
        f"{len(still_unread)} proposals never marked read; first answer: {text(throttled).splitlines()[-1]!r} "
        f"(complete={throttled.structured_content.get('complete')}); retry: {text(retried)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P3: "the latest message" of a chat with no messages is blamed on Cliq, and the model is told to give an id
# ---------------------------------------------------------------------------------------------------------------


async def test_mark_read_of_a_chat_without_messages_does_not_ask_for_a_message_id_that_cannot_exist(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str
) -> None:
    """P3 -- a misleading error from the new default (message_id omitted: the chat's latest message).

    walks.latest_message reads GET /chats/{id}?include=last_message_info; a chat with no messages has no
    last_message_info in that answer (walks._no_messages relies on exactly this: "its own answer, asked
    for its last message, has none"). latest_message reports it as an error: "Cliq did not tell the id of chat
    …'s latest message … Give message_id to mark_chat_read" -- blaming Cliq, and sending the model to look for a
    message id that does not exist (it will loop through get_chat / list_chats).

    Fix: when the chat's own answer has no last_message_info, say so truthfully: for mark_chat_read, "Nothing to
    do: chat … has no messages" (NothingToDo, not an error); for mark_chat_unread / fork_chat, an error naming
    that the chat has no messages to start from. Keep the "did not tell" wording for an answer whose last
    message lacks its id."""
    empty = next(c for c, chat in workspace.chats.items() if not chat.visible_messages and not chat.closed)
    async with Client(cliq.server(settings), mode=era) as client:
        answer = await client.call_tool("mark_chat_read", {"chat_id": empty})
    assert "did not tell" not in text(answer) and "Give message_id" not in text(answer), text(answer)


# ---------------------------------------------------------------------------------------------------------------
# P2: a pinned state Cliq's list does not tell is taken for "not pinned" when a plan's batch is re-checked
# ---------------------------------------------------------------------------------------------------------------


async def test_a_plan_chat_whose_pinned_state_is_not_told_is_not_closed_as_unpinned(
    cliq: Cliq, settings: Settings, workspace: Workspace, era: str, monkeypatch: Any
) -> None:
    """P2 (borderline P1) -- a chat pinned since the plan is closed; the person was shown it as not pinned.

    Zoho's chat object promises no field but chat_id (cliq/responses.py: "the rest optional … shown as unknown when
    absent"), and plan_tidy treats an untold ``pinned`` as unknown: it reads the chat alone before proposing it
    (``"pinned state (pinned)"``). But close_chats by plan re-checks its batch with one list request by ids
    (chat_states), and both ``skipped(…, plan)`` (``elif chat.pinned and not plan.include_pinned``) and the
    question's line (``("pinned", chat.pinned) … if on is True``) take None for not pinned. When Cliq's list
    entry leaves ``pinned`` out, a chat pinned since the plan is not left alone, the person's line shows no
    "pinned" (nor "pinned ?"), and it is closed.

    Fix: in by_plan (and for every close_chats batch), read alone (get_chat) a chat whose list entry does not
    tell ``pinned``, as plan_tidy does; if even that does not tell, leave it alone ("Cliq did not tell whether it
    is pinned now") or show "pinned ?" on its line."""
    from cliq_mcp.sandbox import chats as sandbox_chats

    untold: set[str] = set()
    real = sandbox_chats.chat_object

    def chat_object(ws: Any, chat: Any, *, last_message: bool = True) -> dict[str, Any]:
        data = real(ws, chat, last_message=last_message)
        if chat.chat_id in untold:
            data.pop("pinned", None)  # the document promises no pinned field: Cliq may leave it out
        return data

    monkeypatch.setattr(sandbox_chats, "chat_object", chat_object)
    seen: list[ElicitRequestParams] = []
    yes = answering("accept", {"confirm": True}, seen)
    async with Client(cliq.server(settings), mode=era, elicitation_callback=yes) as client:
        planned = await client.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 4})
        handle = planned.structured_content["plan"]
        ids = [a["chat_id"] for a in planned.structured_content["actions"]]
        pinned = ids[1]
        workspace.chats[pinned].pinned = True  # pinned since the plan ...
        untold.add(pinned)  # ... and the list entry does not say so
        done = await client.call_tool("close_chats", {"plan": handle})
    assert not workspace.chats[pinned].closed, (
        f"closed a chat pinned since the plan; the person's line for it: "
        f"{[line for line in seen[0].message.splitlines() if pinned in line]}; answer: {text(done)!r}"
    )
