"""A housekeeping run: plan against the whole workspace by a policy (housekeeping.plan), then, applied, act on
exactly that plan one chat at a time through the guard built with the policy, under a lease on the account (and
a lock per account on this machine), and keep the report of every chat considered. ``cliq-mcp tidy`` (cli/tidy.py)
is its command line: arguments, the report as a table or JSON, the exit status."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from math import ceil
from pathlib import Path
from typing import Any

import anyio

from cliq_mcp.cliq.client import Transport
from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import CliqError, NotConfirmed, Paced, Throttled
from cliq_mcp.core.text import clean
from cliq_mcp.housekeeping.plan import Judged, excluded, muted_why, plan, unsaid_muted
from cliq_mcp.housekeeping.policy import Policy
from cliq_mcp.serve.server import Runtime, perform, runtime
from cliq_mcp.tools.call import Call
from cliq_mcp.tools.catalogue import BY_NAME
from cliq_mcp.tools.inputs import parse_arguments
from cliq_mcp.tools.walks import outcome_of

DONE, PARTLY, REFUSED, NOTHING, FAILED = 0, 1, 2, 3, 4
STATUS = {DONE: "done", PARTLY: "partly_done", REFUSED: "refused", NOTHING: "nothing_to_do", FAILED: "failed"}
# Outcomes that leave a chat as the policy wants it for this run (skipped: the policy no longer selects it).
SETTLED = frozenset({"done", "skipped", "planned", "left_alone", "over_limit"})
Say = Callable[[str], None]
FAILED_TO_PLAN = "planning failed"


@dataclass
class Entry:
    """One chat the run considered."""

    chat_id: str
    name: str
    chat_type: str
    action: str | None  # what the policy says is due
    tool: str | None  # the act planned for this run
    arguments: dict[str, Any] | None
    reason: str
    outcome: str  # planned | left_alone | over_limit | done | skipped | refused | failed | may_have_been_applied
    detail: str | None = None  # | not_sent; detail: what happened to the act, in words

    @classmethod
    def of(cls, judged: Judged) -> Entry:
        outcome = "planned" if judged.tool else "over_limit" if judged.over_limit else "left_alone"
        return cls(judged.chat_id, judged.name, judged.chat_type, judged.action, judged.tool, judged.arguments,
                   judged.reason, outcome)  # fmt: skip


@dataclass
class Report:
    policy: str
    sha256: str
    applied: bool
    started: str
    finished: str = ""
    complete: bool = False  # every chat was judged
    stopped: str | None = None  # why the run ended early
    refused: str = ""  # why the run did not start (another run holds the lease)
    waited_s: int = 0  # waiting for rate windows, in all
    excluded: dict[str, Any] = field(default_factory=dict)  # kept out by [exclude], by reason; entries unused
    chats: list[Entry] = field(default_factory=list)

    @property
    def exit(self) -> int:
        acts = [c for c in self.chats if c.tool]
        if self.complete and not acts:
            return NOTHING
        if not self.complete or any(c.outcome not in SETTLED for c in acts):
            return PARTLY
        return DONE

    def as_json(self) -> dict[str, Any]:
        counts = Counter(c.outcome for c in self.chats)
        status = STATUS[self.exit]
        return {"status": status, "exit": self.exit, **asdict(self), "counts": dict(counts)}


def now_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Waits:
    """Our own pacing refused a request: wait for the window, within the policy's max_wait_minutes in all."""

    def __init__(self, report: Report, policy: Policy, sleep: Callable[[float], Awaitable[None]], say: Say):
        self.report, self.most, self.sleep, self.say = report, policy.limits.max_wait_minutes * 60, sleep, say

    async def wait(self, exc: Throttled) -> bool:
        """True after waiting out ``exc``'s window; False when it is Cliq's own throttle or waiting is spent."""
        if not isinstance(exc, Paced) or exc.retry_after is None:
            return False
        wait = ceil(exc.retry_after)
        if self.report.waited_s + wait > self.most:
            return False
        self.say(f"waiting {wait} s for the rate limit ({clean(exc.message, 120)})")
        await self.sleep(wait)
        self.report.waited_s += wait
        return True


async def run(
    policy: Policy,
    settings: Settings,
    report: Report,
    *,
    transport: Transport | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    say: Say = lambda line: None,
) -> None:
    """Plan, and with ``report.applied`` act, filling ``report`` as it goes (it stays true if cancelled).
    ``sleep``, ``clock`` and ``wall_clock`` as for server.build_server (tests: one fake clock for all)."""
    parts = runtime(settings, transport=transport, sleep=sleep, clock=clock, wall_clock=wall_clock, policy=policy)
    lease, owner = f"{settings.account}:tidy-run", secrets.token_hex(8)
    held = False
    try:
        if parts.store is not None:
            # One run per account, whichever process, machine or state file: a lease in the shared store, renewed
            # while the run lives, so a run that was killed frees the account within LEASE_S.
            try:
                left = await parts.store.lease(lease, owner, LEASE_S)
            except CliqError as exc:
                report.refused = f"the run's lease cannot be taken: {clean(exc, 200)}"
                return
            if left:
                report.refused = (
                    f"another `cliq-mcp tidy` of this account is running: its lease ends in {ceil(left)} s unless "
                    "that run renews it (it does every 30 s while alive). A run that was killed frees the account "
                    "by then: wait and run again."
                )
                return
            held = True
        waits = Waits(report, policy, sleep, say)
        async with anyio.create_task_group() as renewing:
            if held:
                renewing.start_soon(_renew, parts, lease, owner)
            await _plan(policy, parts, report, waits, say)
            if report.applied and report.complete:

                async def ours() -> bool:
                    if parts.store is None:
                        return True  # no store: the machine's lock alone, held by this process
                    try:
                        return await parts.store.lease(lease, owner, LEASE_S) == 0
                    except CliqError:
                        return False  # cannot tell: not another act

                await _apply(parts, report, say, waits, ours)
            renewing.cancel_scope.cancel()
    except BaseException as exc:  # cancelled (SIGINT, SIGTERM) or a bug: the report still tells the truth
        report.stopped = report.stopped or _why(exc)
        raise
    finally:
        if report.applied:  # an applied report never says "planned": each act was done or it was not
            why = f"not sent: {report.stopped}" if report.stopped else "not sent"
            for entry in report.chats:
                if entry.outcome == "planned":
                    entry.outcome, entry.detail = "not_sent", why
        with anyio.CancelScope(shield=True):
            if held and parts.store is not None:
                with contextlib.suppress(CliqError):  # unreachable now: the lease ends by itself
                    await parts.store.end_lease(lease, owner)
            await parts.aclose()
            report.finished = now_stamp()


LEASE_S = 120.0  # a run's lease on the account: renewed every RENEW_S while the run lives
RENEW_S = 30.0


async def _renew(parts: Runtime, lease: str, owner: str) -> None:
    """Keep the run's lease while the run lives (wall time: the lease is about processes, not the plan's clock)."""
    assert parts.store is not None
    while True:
        await anyio.sleep(RENEW_S)
        with contextlib.suppress(CliqError):  # a store that failed for a moment: the next renewal may do (and
            await parts.store.lease(lease, owner, LEASE_S)  # each act checks the lease is still this run's)


def _why(exc: BaseException) -> str:
    return f"failed unexpectedly ({type(exc).__name__})" if isinstance(exc, Exception) else "interrupted"


async def _plan(policy: Policy, parts: Runtime, report: Report, waits: Waits, say: Say) -> None:
    """Judge every chat into ``report``, waiting out our own rate windows. A plan stopped early (Cliq's
    throttle, an error, the wait spent) is reported as it is, and nothing is done on it: a partial plan is
    acted on by no run (the next one starts over)."""
    now = datetime.fromtimestamp(parts.wall_clock(), timezone.utc)
    judged: list[Judged] = []
    try:
        walked = await plan(
            policy,
            Call(parts.client),  # the judging of the whole run is one call: it writes nothing
            BY_NAME,
            tool="tidy",
            now=now,
            wait=waits.wait,
            into=judged,
            barred=parts.client.write_barred,
        )
    except CliqError as exc:  # not even the first page
        report.stopped = f"{FAILED_TO_PLAN}: {clean(exc, 300)}"
        return
    finally:  # also when cancelled: what was judged is reported
        report.chats += [Entry.of(j) for j in judged]
        report.excluded = excluded(policy, judged, whole=False)
    unsaid = unsaid_muted(walked.judged)
    if walked.stopped is None and not walked.unreadable and not unsaid:
        report.complete = True
        report.excluded = excluded(policy, judged, whole=True)
        return
    problem = walked.throttle or walked.error
    if problem is None and walked.stopped is None and walked.unreadable:  # every page walked, not every chat named
        report.stopped = f"planning incomplete: Cliq's list held {walked.unreadable} entries without a chat id"
    elif problem is None and walked.stopped is None:  # every chat judged, some on a mute state Cliq did not tell
        report.stopped = f"planning incomplete: {muted_why(unsaid)}"
    else:
        report.stopped = "planning stopped: " + (clean(problem, 300) if problem else walked.stopped or "")
    if report.applied:
        report.stopped += "; nothing was done on the partial plan"
    say(report.stopped)


async def _apply(parts: Runtime, report: Report, say: Say, waits: Waits, ours: Callable[[], Awaitable[bool]]) -> None:
    """Each planned act through the guard (built with the policy), one chat at a time, each only while the run
    still holds the account's lease (``ours``: another run may have taken it after a long pause). A throttle
    from Cliq stops the run: the acts not reached are not sent."""
    for entry in [c for c in report.chats if c.tool]:
        assert entry.tool is not None and entry.arguments is not None
        if not await ours():
            report.stopped = "stopped: another run of this account holds the lease now (this one paused too long)"
            say(report.stopped)
            return  # the rest: not sent (run)
        op = BY_NAME[entry.tool]
        call = Call(parts.client)  # each act is a call of its own
        try:
            request = parse_arguments(op.arguments, entry.arguments)
            while True:
                try:
                    await parts.guard.run(op, request, call, None, partial(perform, op, request, call, silent))
                    entry.outcome, entry.detail = "done", None
                except Throttled as exc:
                    if await waits.wait(exc):
                        continue
                    raise
                break
        except NotConfirmed as exc:
            entry.outcome = "skipped" if exc.outcome == "skipped" else "refused"
            entry.detail = clean(exc.message, 300)
        except Throttled as exc:
            entry.outcome = "not_sent" if isinstance(exc, Paced) else "failed"
            entry.detail = clean(exc, 300)
            report.stopped = f"stopped by a throttle: {clean(exc, 200)}"
            say(report.stopped)
            return  # the rest: not sent (run)
        except CliqError as exc:
            entry.outcome, entry.detail = outcome_of(exc)
        except BaseException as exc:  # cancelled or a bug, with this act's request perhaps at Cliq
            why = _why(exc)
            entry.outcome = "may_have_been_applied" if call.sent else "not_sent"
            entry.detail = f"{why} {'after' if call.sent else 'before'} the request was sent"
            report.stopped = why
            raise


async def silent(progress: float, total: float | None, message: str | None) -> None:
    return None


@contextlib.contextmanager
def one_run_at_a_time(settings: Settings) -> Iterator[str]:
    """An exclusive lock per account on this machine (two overlapping runs would each allow max_acts), whatever
    the state directory or store each run was given (the store's lease covers runs on other machines): yields
    "" when held, else why not. The kernel lets go of it when the process ends, even killed."""
    # The user's runtime directory; else one under HOME (fixed, whatever XDG_STATE_HOME a run was given); only
    # without either the temporary directory, where another user could take the name first (refused then).
    runtime_dir, home = os.environ.get("XDG_RUNTIME_DIR"), os.environ.get("HOME")
    if runtime_dir:
        where = Path(runtime_dir) / "cliq-mcp"
    elif home:
        where = Path(home) / ".local" / "state" / "cliq-mcp" / "run"
    else:
        where = Path(tempfile.gettempdir()) / f"cliq-mcp-{os.getuid()}"
    path = where / f"tidy-{hashlib.sha256(settings.account.encode()).hexdigest()[:16]}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = os.lstat(path.parent)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise OSError(f"{path.parent} is not a directory of this user's alone")
        handle = path.open("a")
    except OSError as exc:
        yield f"the run lock cannot be made in {path.parent} ({exc.strerror or exc})."
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield "another `cliq-mcp tidy` of this account is running on this machine."
            return
        yield ""
