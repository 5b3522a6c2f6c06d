"""The guard holds where a second attacking review pressed: the budget cut before asking, stores that lose what
they kept (a deleted or replaced state file, Redis restarted with or without its snapshot), the records a yes
rests on, kept yeses and a no, one account across credentials, plans by handle.

Each test failed against the code before its fix, for the reason its docstring gives. Severity: P1 = a
destructive act without a visible yes (or twice on one yes); P2 = an untrue answer; P3 = robustness."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
from conftest import Cliq, RedisServer, answering, approve_with, guarded, text, writes
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult, InputRequiredResult
from simulated_cliq import FakeTime, Fault, Workspace

from cliq_mcp.core.config import Settings
from cliq_mcp.core.state_store import SqliteStore
from cliq_mcp.serve.server import build_server

PER_CHAT_PUT_ALLOWED = 54  # 90 % of Cliq's 60 a minute


def closes(workspace: Workspace) -> list[str]:
    return [w.path.rsplit("/", 1)[-1] for w in writes(workspace)
            if w.method == "PUT" and w.json == {"operation": "close_chat"}]  # fmt: skip


def state_file(tmp_path: Path) -> Path:
    return tmp_path / "cliq-mcp" / "state.sqlite3"


async def use_budget(cliq: Cliq, settings: Settings, tmp_path: Path, key: str, n: int) -> None:
    """Another process of the same account sends ``n`` requests of ``key`` (it records them in the shared store)."""
    other = SqliteStore(state_file(tmp_path), clock=cliq.time)
    for _ in range(n):
        assert await other.admit(f"{settings.account}:pace:{key}", PER_CHAT_PUT_ALLOWED, 60) == 0
    await other.aclose()


def open_group_chats(workspace: Workspace, n: int, skip: int = 0) -> list[str]:
    ids = [c.chat_id for c in workspace.chats.values() if c.chat_type == "group_chat" and not c.closed]
    return ids[skip : skip + n]


# ---------------------------------------------------------------------------------------------------------------
# P2: a batch cut by the budget to chats that are all closed says "every chat is already closed", complete
# ---------------------------------------------------------------------------------------------------------------


async def test_a_budget_cut_to_closed_chats_does_not_report_the_batch_done(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    """P2 -- untrue answer: "Nothing to do: every chat is already closed", complete=true, while 3 open chats of the
    call were never sent, nor asked about.

    within_budget cuts the request to the first ``free`` ids (here 2) before anyone is asked, and keeps the rest
    in ``request._later`` for apply_each to report as not sent. But when every chat of the cut is already closed,
    build_question raises NothingToDo with ``Bulk(items=<the 2 closed>, complete=True)``: the guard returns it as
    is and ``_later`` is never reported. The model is told the whole batch was already closed and the call was
    complete; the 3 open chats it asked to close are silently dropped.

    Fix: cut by what would be sent (leave out chats already closed / not found before cutting, e.g. cut in
    build_question on ``targets``), or have the NothingToDo / NotConfirmed paths of a cut request add the
    ``_later`` chats as not_sent items and complete=false with retry_after_s."""
    settings = guarded(cliq, tmp_path)
    closed = [c.chat_id for c in workspace.chats.values() if c.closed][:2]
    open_ = open_group_chats(workspace, 3)
    await use_budget(cliq, settings, tmp_path, "per_chat_put", PER_CHAT_PUT_ALLOWED - 2)  # 2 slots left
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True},
                                                                                      seen)) as client:  # fmt: skip
        done = await client.call_tool("close_chats", {"chat_ids": [*closed, *open_]})
    data = done.structured_content or {}
    assert not closes(workspace)
    reported = {i["chat_id"] for i in data.get("items") or []}
    assert set(open_) <= reported and data.get("complete") is not True, (
        f"answer {text(done)!r} / complete={data.get('complete')} does not own up to the open chats {open_} that "
        f"were neither asked about nor sent (reported: {sorted(reported)})"
    )


# ---------------------------------------------------------------------------------------------------------------
# P1: after a store loss, an answer already used acts again once the same question is put again
# ---------------------------------------------------------------------------------------------------------------

Q2 = "2890538000000099999"


def lose_the_store(where: Path) -> None:
    for found in where.rglob("state.sqlite3*"):
        found.unlink()


async def test_a_used_2026_answer_does_not_act_again_after_a_loss_when_its_question_is_asked_again(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P1 -- one yes, two destructive acts: a 2026-07-28 answer already used clears a chat's history a second
    time.

    ``_asked_at`` honours an answer while the store holds ``asked:<digest of the question text>``. That record
    names the question, not the round it was put in: after the store lost its data (and with it the claim of the
    used answer, ``answer:<sealed state digest>``), the same question put again -- a fresh call about the same
    chat, whose text is identical since clearing a history does not change the chat's name or type -- writes the
    record again. The first round's retry, sent again (its sealed request state is valid for CLIQ_CONFIRM_TTL),
    then finds the record, claims its answer (the claim was lost) and clears the history a second time -- messages
    written since the person's one yes are gone. The person never answered the second question.

    Fix: tie the record to the round, not the text: e.g. put a per-round nonce into the elicitation message (so
    the SDK's question digest and ``asked:`` differ per round), or store the sealed state's expected digest /
    round id in the ``asked:`` record and require the answer to come with that round's state."""
    args = {"chat_id": Q2}
    yes_cb = answering("accept", {"confirm": True})
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto", elicitation_callback=yes_cb) as client:
        asked = await client.session.call_tool("clear_chat_history", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        first = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                       request_state=asked.request_state)  # fmt: skip
        assert first.is_error is False, text(first)
        lose_the_store(tmp_path)  # the state directory is deleted: claims, records, windows
        noticed = await client.call_tool("get_chat", args)  # the loss is noticed: a full minute
        assert noticed.is_error is True
        cliq.time.advance(61)
        again = await client.session.call_tool("clear_chat_history", args, allow_input_required=True)
        assert isinstance(again, InputRequiredResult)  # asked again; nobody answers this one
        assert [r.params.message for r in again.input_requests.values()] == [
            r.params.message for r in asked.input_requests.values()
        ]  # the very same question text
        replay = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                        request_state=asked.request_state)  # fmt: skip
    assert len(writes(workspace)) == 1, (
        f"one yes, {len(writes(workspace))} writes: the replay answered {text(replay)!r}; writes: "
        f"{[(w.method, w.path, w.json) for w in writes(workspace)]}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P1: a Redis that comes back from its own snapshot (Redis's default persistence) is not seen as a loss
# ---------------------------------------------------------------------------------------------------------------


class SnapshottingRedis(RedisServer):
    """A real redis-server that keeps RDB snapshots in its directory, as Redis does by default: killed, it comes
    back with the data of its last snapshot (the writes after it are lost)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self._process.kill()
        self._process.wait(timeout=10)
        self._argv = [a for a in self._argv if a not in ("--save", "")]
        self._argv[self._argv.index("--appendonly") + 1] = "no"
        self._argv += ["--dbfilename", "dump.rdb"]
        self._process = self._start()

    def snapshot(self) -> None:
        import redis

        redis.Redis.from_url(self.url).save()


async def test_a_used_2026_answer_does_not_act_again_after_redis_restarts_from_its_snapshot(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P1 -- one yes, two destructive acts, with Redis as configured by default (RDB snapshots).

    The store's loss detection (``Epoch``, ``lost_at``) and the ``asked:`` / ``issued:`` records assume a lost
    Redis comes back empty. A Redis with persistence (the default ``save`` schedule) comes back from its last
    snapshot: the epoch key is the old one, so nothing is seen as lost; the ``asked:`` record written before the
    snapshot is back; the claim of the answer used after the snapshot is gone. The same 2026-07-28 retry, sent
    again within CLIQ_CONFIRM_TTL, is honoured again and clears the chat's history a second time. (The pacing
    windows roll back the same way: requests sent after the snapshot are forgotten, and nothing starts full.)

    Fix: notice a restart, not only an empty store: keep Redis's ``run_id`` (INFO server) next to the epoch and
    treat a change as a loss (a new epoch, every window full for its length); and honour an ``asked:`` or
    ``issued:`` record only if it was written under the current epoch (store the epoch in the record's value)."""
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    server = SnapshottingRedis(redis_dir)
    try:
        settings = guarded(cliq, tmp_path, CLIQ_STATE_URL=server.url, CLIQ_GUARD_SECRET="guard-secret-0123456789")
        args = {"chat_id": Q2}
        async with Client(cliq.server(settings), mode="auto",
                          elicitation_callback=answering("accept", {"confirm": True})) as client:  # fmt: skip
            asked = await client.session.call_tool("clear_chat_history", args, allow_input_required=True)
            assert isinstance(asked, InputRequiredResult)
            server.snapshot()  # Redis's periodic snapshot happens to fall here
            yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
            first = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                           request_state=asked.request_state)  # fmt: skip
            assert first.is_error is False, text(first)
            server.restart()  # killed; it comes back from dump.rdb
            cliq.time.advance(61)  # were it noticed as a loss, a minute later the budget is free again
            replay = None
            for _ in range(3):  # the first use after the restart may meet the broken connection
                replay = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                                request_state=asked.request_state)  # fmt: skip
                if "could not be used" not in text(replay):
                    break
    finally:
        server.stop()
    assert len(writes(workspace)) == 1, f"one yes, {len(writes(workspace))} clears; the replay: {text(replay)!r}"


async def test_a_state_file_replaced_by_an_earlier_copy_is_a_loss(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P1 -- one yes, two destructive acts (and P3: the pacing window rolls back).

    SqliteStore watches the state file's inode and reopens a replaced file, but it counts the new file as a loss
    only if its epoch differs. A file replaced by an earlier copy of itself (a backup restored, a home directory
    synced back) has the same epoch: nothing is seen as lost, yet the claims and window entries written after the
    copy are gone while the ``asked:`` record made before it is back. The used 2026-07-28 answer, sent again,
    clears the chat's history a second time.

    Fix: a replaced file (new inode) is a loss whatever its epoch says: rotate the epoch in it and set
    ``lost_at`` (every window full for its length), so that ``asked:`` / ``issued:`` records of the old epoch are
    not honoured (store the epoch in their values and compare)."""
    args = {"chat_id": Q2}
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="auto",
                      elicitation_callback=answering("accept", {"confirm": True})) as client:  # fmt: skip
        asked = await client.session.call_tool("clear_chat_history", args, allow_input_required=True)
        assert isinstance(asked, InputRequiredResult)
        path = state_file(tmp_path)
        backup = tmp_path / "backup.sqlite3"
        with sqlite3.connect(path) as live, sqlite3.connect(backup) as copy:
            live.backup(copy)  # a consistent copy of the store as it is now
        yes = {key: ElicitResult(action="accept", content={"confirm": True}) for key in asked.input_requests}
        first = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                       request_state=asked.request_state)  # fmt: skip
        assert first.is_error is False, text(first)
        for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            side.unlink(missing_ok=True)
        os.replace(backup, path)  # the earlier copy comes back in its place
        cliq.time.advance(61)
        replay = await client.call_tool("clear_chat_history", args, input_responses=yes,
                                        request_state=asked.request_state)  # fmt: skip
    assert len(writes(workspace)) == 1, f"one yes, {len(writes(workspace))} clears; the replay: {text(replay)!r}"


# ---------------------------------------------------------------------------------------------------------------
# P1: a "no" to close_chat about a chat does not withdraw close_chats' kept yes for it
# ---------------------------------------------------------------------------------------------------------------

THROTTLED_BODY = {"code": "rate_limit_exceeded", "message": "Rate limit exceeded."}


def scripted(answers: list[str], seen: list[ElicitRequestParams]) -> Any:
    async def callback(context: Any, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)
        action = answers[len(seen) - 1]
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)

    return callback


async def test_a_no_to_close_chat_withdraws_the_yes_close_chats_kept_for_that_chat(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    """P1 -- a destructive act against the person's latest answer about that very chat.

    close_chats [A, B, C, D]: the person says yes; Cliq throttles B, so C and D are not sent and the yes is kept
    for them (Guard._keep_yes, ``<account>:yes:close_chats:<chat>``). The model then asks close_chat {C}: the
    person is shown "Close the group chat … (C)" and says NO. ``_withdraw_kept`` returns at once for an operation
    without ``each``, so the kept yes for C stands: the next close_chats [C, D] closes C without asking anyone.
    The README's rule is that a person's no withdraws any kept yes for the chats it listed; a no to close_chat is
    a no about closing that chat.

    Fix: withdraw by chat, not by tool: on a declined close_chat (any question naming chats), claim the kept yes
    of every closing tool for those chats (``_kept(BY_NAME['close_chats'], chat_id)``), or key kept yeses by
    (effect, chat) instead of tool name."""
    ids = open_group_chats(workspace, 4)
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode=era,
                      elicitation_callback=scripted(["accept", "decline", "accept"], seen)) as client:  # fmt: skip
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await client.call_tool("close_chats", {"chat_ids": ids})
        outcomes = {i["chat_id"]: i["outcome"] for i in cut.structured_content["items"]}
        assert outcomes[ids[2]] == outcomes[ids[3]] == "not_sent", text(cut)
        cliq.time.advance(30)
        no = await client.call_tool("close_chat", {"chat_id": ids[2]})
        assert no.is_error and len(seen) == 2 and ids[2] in seen[1].message, text(no)
        after = await client.call_tool("close_chats", {"chat_ids": ids[2:]})
    assert not (workspace.chats[ids[2]].closed and len(seen) == 2), (
        f"chat {ids[2]} closed unasked right after the person said no to closing it: {text(after)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P3: the wall clock stepping back holds the account's budget full for the length of the step
# ---------------------------------------------------------------------------------------------------------------


async def test_a_wall_clock_stepped_back_does_not_hold_the_budget_full_for_the_step(tmp_path: Path) -> None:
    """P3 -- robustness (and an untrue "Try again in 60 s", repeated for an hour).

    SqliteStore times pacing on the wall clock (every process of the machine shares it). Requests recorded at
    wall time T stay in ``sent`` until ``now > T + window``. When the wall clock steps back (an NTP correction
    after a suspend, a VM restored, a person fixing the time zone by hand) by an hour, those entries lie an hour
    in the future: they are never removed and count against the window for an hour and a minute, while
    ``_room`` bounds the wait it reports to 60 s. Every destructive call is refused unasked ("Try again in 60 s")
    and every read is paced, again and again, for the whole hour -- though Cliq, which counts real time, forgot
    them a minute later.

    Fix: entries from the future are clamped to now (``UPDATE sent SET at = ? WHERE key = ? AND at > ?``) before
    counting, so that a step back costs at most one window; likewise ``lost_at`` and leases (``until``)."""
    clock = FakeTime()
    store = SqliteStore(tmp_path / "state.sqlite3", clock=clock)
    assert [await store.admit("a:pace:x", 5, 60) for _ in range(5)] == [0] * 5
    clock.advance(-3600)  # the wall clock steps back an hour
    free, wait = await store.room("a:pace:x", 5, 60)
    assert free == 0 and wait <= 60  # says: a minute
    clock.advance(61)  # a real minute and a second later: Cliq forgot those five
    later = await store.admit("a:pace:x", 5, 60)
    clock.advance(600)  # ten minutes later still
    much_later = await store.admit("a:pace:x", 5, 60)
    await store.aclose()
    assert later == 0 and much_later == 0, (
        f"61 s after the clock stepped back the window is still full (wait {later} s), and 10 min later too "
        f"(wait {much_later} s): it stays full for the whole hour"
    )


# ---------------------------------------------------------------------------------------------------------------
# P3: one account named by CLIQ_ACCOUNT, but a walk's cursor works only on the replica whose credentials made it
# ---------------------------------------------------------------------------------------------------------------

REFRESHING = {"CLIQ_ACCESS_TOKEN": "", "CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
              "CLIQ_REFRESH_TOKEN": "sandbox-refresh"}  # fmt: skip


async def test_a_cursor_from_one_replica_of_a_named_account_continues_on_another(cliq: Cliq) -> None:
    """P3 -- robustness of "one account, one identity" (issue #22 item 6 / #23 item 5).

    With CLIQ_ACCOUNT the same on two replicas -- one configured with an access token, the other with refresh
    token credentials -- the account's budget, token, claims, plans and tidy lock are shared, and plan_tidy's
    plan handle works on both. But the cursor key (CliqClient.cursor_key) is still derived from the credentials
    (``settings.secrets()``): a next_token handed out by one replica is "not one plan_tidy gave" on the other, so
    behind a load balancer a walk cannot be continued (the model is told its cursor is invalid and starts over,
    re-listing the workspace against the 30-a-minute list budget).

    Fix: derive the cursor key from what every replica of the named account shares -- the guard secret
    (CLIQ_GUARD_SECRET, already required for replicas) and ``settings.account`` -- rather than from the
    credentials."""
    # Replicas share the guard secret (the README asks it of replicas): with the account, it keys the cursors.
    named = {"CLIQ_ACCOUNT": "tim.harrison@zylker.com", "CLIQ_GUARD_SECRET": "guard-secret-0123456789"}
    async with Client(cliq.server(cliq.settings(**named))) as by_token:
        first = await by_token.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 3})
    cursor = (first.structured_content or {}).get("next_token")
    assert cursor, text(first)
    async with Client(cliq.server(cliq.settings(**named, **REFRESHING))) as by_refresh:
        went_on = await by_refresh.call_tool("plan_tidy", {"inactive_days": 365, "max_chats": 3, "next_token": cursor})
    assert went_on.is_error is False, text(went_on)


# ---------------------------------------------------------------------------------------------------------------
# P1 (time bound): a yes clicked on a page kept open outlives CLIQ_CONFIRM_TTL from its question
# ---------------------------------------------------------------------------------------------------------------


async def test_a_kept_yes_from_a_page_waited_on_again_ends_ttl_after_the_page_was_shown(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, url_only_client: None
) -> None:
    """P1 (the guard's time bound) -- chats closed without asking, later than CLIQ_CONFIRM_TTL after the only
    question the person ever saw about them.

    Handshake era, approval page: call 1 opens the page and stops waiting after CLIQ_APPROVAL_WAIT ("Not done
    yet"); the page stays open for CLIQ_CONFIRM_TTL. The person clicks Approve. Call 2, near the end of the TTL,
    finds the click and acts -- but Guard._decide_about takes ``asked_at = self._clock()`` at call 2, not when the
    page was shown. The batch is cut short (Cliq throttles one chat), so ``_keep_yes`` keeps the yes for the
    rest until call 2 + TTL: call 3, well after the page's question expired, closes them unasked
    (confirmed_by "earlier yes"). The rule (README, commit f62c33f) is that a kept yes lasts CLIQ_CONFIRM_TTL from
    its question. (The 2026-07-28 round keeps its question's time in the store; this path does not.)

    Fix: PageFlow.ask should return when the page it waited on was opened (``opened``, on the wall clock), and the
    guard should use that as ``asked_at`` for the TTL check and for ``_acting``."""
    settings = guarded(cliq, tmp_path, CLIQ_CONFIRM_TTL="1.5", CLIQ_APPROVAL_WAIT="0.2")
    ids = open_group_chats(workspace, 4)
    urls: list[str] = []

    async def host(context: Any, params: Any) -> ElicitResult:  # the host opens the page for the person
        urls.append(params.url)
        return ElicitResult(action="accept")

    server = build_server(settings, transport=cliq.transport)  # real clocks: the page's and the guard's agree
    async with Client(server, mode="legacy", elicitation_callback=host) as client:
        shown_at = time.monotonic()
        first = await client.call_tool("close_chats", {"chat_ids": ids})
        assert first.is_error and "Not done yet" in text(first) and len(urls) == 1, text(first)
        async with httpx.AsyncClient() as person:
            await approve_with(person, urls[0])  # the person approves on the page
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        await anyio.sleep(max(0.0, shown_at + 1.1 - time.monotonic()))
        second = await client.call_tool("close_chats", {"chat_ids": ids})  # acts on the click: within the TTL
        assert not second.is_error and workspace.chats[ids[0]].closed, text(second)
        assert not workspace.chats[ids[2]].closed and not workspace.chats[ids[3]].closed, text(second)
        await anyio.sleep(max(0.0, shown_at + 1.8 - time.monotonic()))  # the page's question expired at 1.5 s
        third = await client.call_tool("close_chats", {"chat_ids": ids[2:]})
    late = [c for c in ids[2:] if workspace.chats[c].closed]
    assert not (late and len(urls) == 1), (
        f"{len(late)} chats closed unasked {time.monotonic() - shown_at:.1f} s after the only question about them "
        f"(CLIQ_CONFIRM_TTL=1.5 s): {text(third)!r}"
    )


# ---------------------------------------------------------------------------------------------------------------
# P1 under a store hiccup: a "no" whose withdrawal could not be written leaves the kept yes standing, silently
# ---------------------------------------------------------------------------------------------------------------


async def test_a_no_whose_withdrawal_the_store_could_not_take_still_stops_the_kept_yes(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P1 (with a store failure) -- chats closed unasked right after the person said no to closing them.

    Guard._withdraw_kept claims the kept yes of each chat a declined question listed, inside
    ``contextlib.suppress(CliqError)``: if the store cannot be used at that moment (SQLite busy for 10 s because
    another process holds a long write lock -- a backup, a tidy run, a slow disk; Redis failing over), the
    withdrawal is dropped without a word and the kept yes stands. The next close_chats for those chats acts on
    it, unasked, against the person's latest answer. Here another connection holds the state file's write lock
    for ~10.5 s right when the person says no.

    Fix: a no must not be lost: do not suppress the failure silently -- retry, and if it still fails, remember
    the withdrawal in the process (checked by ``_kept_yes``) and fail closed for kept yeses until it is written,
    and say in the answer that an earlier yes could not be withdrawn."""
    ids = open_group_chats(workspace, 3)
    seen: list[ElicitRequestParams] = []
    path = state_file(tmp_path)
    aside = path.with_name("state.sqlite3.aside")

    async def person(context: Any, params: ElicitRequestParams) -> ElicitResult:
        seen.append(params)
        if len(seen) == 2:  # the no: right then the state file cannot be used (moved aside, a directory there)
            path.rename(aside)
            path.mkdir()
            return ElicitResult(action="decline")
        return ElicitResult(action="accept", content={"confirm": True})

    async with Client(cliq.server(guarded(cliq, tmp_path)), mode="legacy", elicitation_callback=person) as client:
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await client.call_tool("close_chats", {"chat_ids": ids})  # yes; ids[2] approved, not sent
        assert [i["outcome"] for i in cut.structured_content["items"]] == ["done", "failed", "not_sent"], text(cut)
        cliq.time.advance(30)
        # The person is asked about ids[2] and ids[1] (not kept: it failed), and says no.
        no = await client.call_tool("close_chats", {"chat_ids": [ids[2], ids[1]]})
        assert no.is_error and "decline" in text(no) and len(seen) == 2, text(no)
        path.rmdir()
        aside.rename(path)  # the store works again, holding what it held (the kept yes among it)
        await client.call_tool("get_chat", {"chat_id": ids[2]})  # the store is used again (and counted full)
        cliq.time.advance(61)  # past the minute a store that was away counts as full
        after = await client.call_tool("close_chats", {"chat_ids": [ids[2]]})
    closed_unasked = workspace.chats[ids[2]].closed and len(seen) == 2
    assert not closed_unasked, f"closed {ids[2]} right after the person said no: {text(after)!r}"


# ---------------------------------------------------------------------------------------------------------------
# P3: a batch whose first chat Cliq throttles keeps no yes: the person is asked again about chats they approved
# ---------------------------------------------------------------------------------------------------------------


async def test_a_batch_throttled_at_its_first_chat_keeps_the_yes_for_the_rest(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    """P3 -- asked twice (issue #22 item 2, "never asked twice").

    close_chats [A, B, C]: the person says yes; Cliq throttles A, so B and C are not sent. Because no chat ended
    done, summaries.bulk_answer raises NothingDone from inside the act, so Guard._acting never reaches
    ``_keep_yes``: the yes for B and C is not kept, and the call for the rest (which the answer itself proposes,
    "call again after 30 s with chat_ids=[B, C]") asks the person again about chats they just approved. (A plan's
    batch keeps it in the same situation: plan_batch does not raise while chats are not sent.)

    Fix: keep the yes for the not-sent chats before turning the outcome into an error (e.g. catch NothingDone in
    ``_acting``, keep from its ``data['items']``, re-raise), or do not raise NothingDone while some chats were
    not sent."""
    ids = open_group_chats(workspace, 3)
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(guarded(cliq, tmp_path)), mode=era,
                      elicitation_callback=answering("accept", {"confirm": True}, seen)) as client:  # fmt: skip
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[0]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await client.call_tool("close_chats", {"chat_ids": ids})
        assert "not sent" in text(cut) and len(seen) == 1, text(cut)
        cliq.time.advance(30)
        rest = await client.call_tool("close_chats", {"chat_ids": ids[1:]})
    assert not rest.is_error, text(rest)
    assert len(seen) == 1, f"the person was asked again about {ids[1:]}, which they had approved: {seen[-1].message!r}"


async def test_a_batch_on_a_token_keeps_its_yes_only_until_the_ttl_after_the_preview(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """A trust-host token redeemed late: the preview the person agreed to is as old as the token, so what a batch
    cut short keeps of that yes ends CLIQ_CONFIRM_TTL after the preview, not after the redemption."""
    settings = guarded(cliq, tmp_path, CLIQ_GUARD="trust-host", CLIQ_CONFIRM_TTL="60", CLIQ_PACING="off")
    ids = open_group_chats(workspace, 3)
    async with Client(cliq.server(settings)) as client:
        preview = await client.call_tool("close_chats", {"chat_ids": ids})
        token = preview.structured_content["preview"]["confirmation_token"]
        cliq.time.advance(50)  # the person agrees late in the token's life
        workspace.inject(Fault(method="PUT", path_prefix=f"/api/v3/chats/{ids[1]}", kind="status", status=429,
                               body=THROTTLED_BODY, headers={"Retry-After": "30"}))  # fmt: skip
        cut = await client.call_tool("close_chats", {"chat_ids": ids, "confirmation_token": token})
        cliq.time.advance(20)  # 70 s after the preview, 20 s after the redemption
        rest = await client.call_tool("close_chats", {"chat_ids": ids[2:]})
    assert workspace.chats[ids[0]].closed and not workspace.chats[ids[2]].closed, text(cut)
    assert rest.structured_content is not None and "preview" in rest.structured_content, text(rest)


async def test_a_batch_cut_by_the_budget_tells_the_person_it_is_part_of_what_was_asked(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, era: str
) -> None:
    # The person is asked about what can go now, and told that more was asked for (as a plan's batch says).
    settings = guarded(cliq, tmp_path)
    chats = open_group_chats(workspace, 4)
    await use_budget(cliq, settings, tmp_path, "per_chat_put", PER_CHAT_PUT_ALLOWED - 2)  # 2 slots left
    seen: list[ElicitRequestParams] = []
    async with Client(cliq.server(settings), mode=era, elicitation_callback=answering("accept", {"confirm": True},
                                                                                      seen)) as client:  # fmt: skip
        done = await client.call_tool("close_chats", {"chat_ids": chats})
    assert seen and seen[0].message.startswith("Close 2 chats (of the 4 asked for; the others are asked about later)?")
    assert done.structured_content is not None and done.structured_content["complete"] is False, text(done)
