"""``cliq-mcp tidy --policy FILE [--apply] [--json]``: housekeeping by a policy file, unattended.

The run plans against the whole workspace (housekeeping.plan: every chat judged by the policy), waiting out
our own rate windows rather than stopping (up to the policy's ``max_wait_minutes``, and it says how long it
waited). Without ``--apply`` it prints the plan and sends no write. With ``--apply`` it acts on exactly that
plan, one chat at a time, each act through the guard built with the policy (guard/decide.py): an action the
file does not name is refused, and a chat the policy no longer selects when read right before the act is
skipped. Cliq's own throttle stops the run (every further request would extend its lock); the chats not
reached are reported ``not_sent`` and the next run, which plans afresh, picks up what is still due.

The report lists every chat considered with its action, reason and outcome: a table (or ``--json``) on
stdout, a summary on stderr, written once when the run ends, also when it is interrupted (SIGINT, SIGTERM).

Exit status: 0 done (with --apply every planned act done or skipped; without, a complete plan with acts),
1 partly done (an act failed, may have been applied or was not sent, or the plan is incomplete),
2 refused (the policy file or the settings), 3 nothing to do, 4 failed (nothing could be planned: Cliq
unreachable, or it refused the credentials).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from cliq_mcp.cliq.client import Transport
from cliq_mcp.core.config import Settings
from cliq_mcp.core.logs import Redactor
from cliq_mcp.housekeeping.policy import TOOLS, Policy
from cliq_mcp.housekeeping.run import (
    DONE,
    FAILED,
    FAILED_TO_PLAN,
    REFUSED,
    STATUS,
    Report,
    Say,
    now_stamp,
    one_run_at_a_time,
    run,
)

# --- the command line ------------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    tidy = sub.add_parser(
        "tidy",
        help="housekeeping by a policy file: plan (default) or --apply; for cron and systemd timers",
        description="Judge every chat by the policy file and print what it would do; --apply does it. Exit "
        "status: 0 done, 1 partly done, 2 refused (policy or settings), 3 nothing to do, 4 failed.",
    )
    what = tidy.add_mutually_exclusive_group(required=True)
    what.add_argument("--policy", help="the policy file (TOML)")
    what.add_argument("--example", action="store_true", help="print a commented example policy and exit")
    tidy.add_argument("--apply", action="store_true", help="act on the plan (default: only print it)")
    tidy.add_argument("--json", action="store_true", help="the report as JSON on stdout (a summary on stderr)")
    tidy.add_argument("--sandbox", action="store_true", default=argparse.SUPPRESS, help="as cliq-mcp --sandbox")
    tidy.set_defaults(tidy=main)


def main(
    args: argparse.Namespace,
    settings: Settings,
    transport: Transport | None = None,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> int:
    """The command: ``args`` from add_parser's arguments; the rest as for ``run``."""
    from cliq_mcp.housekeeping.policy import PolicyError, example, load

    if args.example:
        sys.stdout.write(example())
        return DONE
    redactor = Redactor(settings.secrets())  # no secret in anything shown, even one Cliq echoed back

    def say(line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # a log a person matches to a night
        print(f"cliq-mcp tidy {stamp}: {redactor.redact(line)}", file=sys.stderr, flush=True)

    def refused(why: str, policy: Policy | None = None) -> int:
        """Refused before anything was sent: said on stderr and, with --json, as a report line too."""
        say(f"refused: {why} Nothing was sent.")
        if args.json:
            line = {
                "status": STATUS[REFUSED], "exit": REFUSED, "policy": Path(args.policy).name,
                "sha256": policy.sha256 if policy else None, "applied": args.apply, "started": now_stamp(),
                "stopped": f"refused: {why}", "chats": [],
            }  # fmt: skip
            sys.stdout.write(json.dumps(redactor.redact_all(line), ensure_ascii=False) + "\n")
        return REFUSED

    try:
        policy = load(args.policy)
    except PolicyError as exc:
        return refused(str(exc))
    if settings.problem is not None:
        return refused(str(settings.problem), policy)
    if settings.auth_mode == "none":
        return refused("no Cliq credentials are set (see cliq-mcp auth).", policy)
    barred = _barred(policy, settings) if args.apply else ""
    if barred:
        return refused(barred, policy)
    with one_run_at_a_time(settings) as busy:
        if busy:
            return refused(busy, policy)
        return _main(args, settings, policy, say, redactor, refused, transport, sleep, clock, wall_clock)


def _main(
    args: argparse.Namespace,
    settings: Settings,
    policy: Policy,
    say: Say,
    redactor: Redactor,
    refused: Callable[[str, Policy], int],
    transport: Transport | None,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
    wall_clock: Callable[[], float],
) -> int:
    report = Report(policy.name, policy.sha256, applied=args.apply, started=now_stamp())

    async def until_signal(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                say("interrupted: reporting what was done")
                scope.cancel()
                return

    async def whole() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(until_signal, group.cancel_scope)
            await run(policy, settings, report, transport=transport, sleep=sleep, clock=clock, wall_clock=wall_clock,
                      say=say)  # fmt: skip
            group.cancel_scope.cancel()

    try:
        anyio.run(whole)
    except Exception:  # a bug: the report still says what became of every chat (see run.py)
        logging.getLogger(__name__).exception("cliq-mcp tidy failed unexpectedly")
        report.stopped = report.stopped or "failed unexpectedly (the log above has details)"
    if report.refused:
        return refused(report.refused, policy)
    if not report.chats and (report.stopped or "").startswith(FAILED_TO_PLAN):
        say(report.stopped or "")
        code = FAILED
    else:
        code = report.exit
    output = redactor.redact_all(report.as_json() | {"exit": code, "status": STATUS[code]})
    # --json: one line a run, so that a schedule can append its reports to one JSON-lines file.
    sys.stdout.write(json.dumps(output, ensure_ascii=False) + "\n" if args.json else redactor.redact(_table(report)))
    sys.stdout.flush()
    say(_summary(report, code))
    return code


def _barred(policy: Policy, settings: Settings) -> str:
    """Why this server's own settings rule out acting on this policy, if they do: what `cliq-mcp call` would
    refuse (read-only, tools not served) tidy does not do either, and every act must be audited."""
    from cliq_mcp.guard.audit import Audit
    from cliq_mcp.tools.catalogue import select

    config = settings.guard
    served = {op.name for op in select(read_only=config.read_only, tools=config.tools, exclude=config.exclude_tools)}
    barred = [f"{action} ({TOOLS[action]})" for action in policy.rules if TOOLS[action] not in served]
    if barred:
        return (f"the policy names {', '.join(barred)}, which this server's settings do not serve "
                "(--read-only, CLIQ_READ_ONLY, CLIQ_TOOLS or CLIQ_EXCLUDE_TOOLS).")  # fmt: skip
    if not Audit(config.audit_log).writable():
        where = config.audit_log or "off (CLIQ_AUDIT_LOG=off)"
        return f"--apply audits every act, and the audit log cannot be written: {where}."
    return ""


def _table(report: Report) -> str:
    """The acts of the run (planned, or what became of them), one row each, and what was left for later."""
    rows = [c for c in report.chats if c.tool]
    head = ("outcome", "action", "chat id", "type", "name", "why")
    lines = [(c.outcome, c.action or "", c.chat_id, c.chat_type, _short(c.name), c.detail or c.reason) for c in rows]
    widths = [max(len(str(row[i])) for row in [head, *lines]) for i in range(5)]
    text = ["  ".join(str(v).ljust(w) for v, w in zip(row[:5], widths, strict=True)) + "  " + row[5]
            for row in [head, *lines]]  # fmt: skip
    if not lines:
        text = ["No chat is due for any action of the policy."]
    later = sum(c.outcome == "over_limit" for c in report.chats)
    if later:
        text.append(f"{later} more chat(s) are due beyond this run's limits (max_acts): a later run takes them.")
    if not report.complete:
        text.append(f"Not every chat was judged ({report.stopped}): the next run starts over and judges them all.")
    return "\n".join(text) + "\n"


def _short(name: str, most: int = 40) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"


def _summary(report: Report, code: int) -> str:
    counts = Counter(c.outcome for c in report.chats)
    done = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in sorted(counts.items()))
    state = "every chat" if report.complete else "NOT every chat (the plan is incomplete)"
    mode = "applied" if report.applied else "dry run, nothing sent"
    waited = f"; waited {report.waited_s} s for rate limits" if report.waited_s else ""
    stopped = f"; {report.stopped}" if report.stopped else ""
    unused = report.excluded.get("unused")
    stopped += f"; [exclude] entries that kept out no chat (check them): {', '.join(unused)}" if unused else ""
    return (f"{STATUS[code].replace('_', ' ')} ({mode}): {report.policy} sha256:{report.sha256[:16]} judged {state}: "
            f"{len(report.chats)} chats; {done or 'none'}{waited}{stopped}")  # fmt: skip
