"""``cliq-mcp audit``: the guard's audit log (guard/audit.py, one JSON line per write attempt) for a person.

A table, newest first: when, which tool, which chats (title and id), how the person's yes was given, and
what came of it; filters by age, tool, chat and outcome; ``--json`` for programs. It shows only those
fields, never the raw arguments, so nothing a caller passed (a confirmation token, say) is printed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cliq_mcp.core.config import GuardConfig
from cliq_mcp.core.errors import ConfigurationError

OUTCOMES = (
    "sending",  # on record before the act was sent; the line after it says how it ended
    "acted",
    "preview",
    "dry_run",
    "refused",
    "declined",
    "waiting",  # the approval page was still open, unanswered, when the call returned
    "cancelled",
    "failed",
    "error",
    "invalid",
    "skipped",
    "paced",
    "nothing_to_do",
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SHOWN_CHATS = 3  # per row in the table; the rest are counted


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audit",
        help="show the audit log of write attempts as a table, newest first",
        description="Show the audit log the guard writes (CLIQ_AUDIT_LOG, or --audit-log before `audit`): "
        "time, tool, chats, how it was confirmed and the outcome, newest first.",
    )
    parser.add_argument("--since", help="only entries this recent: 30m, 12h, 1d, 2w, or a date (2026-01-31)")
    parser.add_argument("--tool", help="only this tool")
    parser.add_argument("--chat", help="only entries about this chat: its id, or part of its title")
    parser.add_argument("--outcome", choices=OUTCOMES, help="only this outcome")
    parser.add_argument("--limit", type=int, default=200, help="at most this many entries (default 200)")
    parser.add_argument("--json", action="store_true", help="JSON (one object per entry, newest first)")
    parser.set_defaults(show_audit=run)


@dataclass(frozen=True)
class Chat:
    id: str
    title: str | None = None


@dataclass(frozen=True)
class Entry:
    """One audit line, as shown."""

    time: datetime
    tool: str
    outcome: str
    chats: list[Chat] = field(default_factory=list)
    confirmed_by: str | None = None
    detail: str | None = None
    sandbox: bool = False  # on the simulated workspace (--sandbox), not on Cliq

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["time"] = self.time.isoformat(timespec="milliseconds")
        return found


def _chat_ids(line: Mapping[str, Any]) -> list[str]:
    """The chats a line is about: the guard's ``chats`` field, or (older lines) read from the arguments."""
    if isinstance(line.get("chats"), list):
        return [str(c) for c in line["chats"]]
    arguments = line.get("arguments")
    if not isinstance(arguments, dict):
        return []
    found = [arguments["chat_id"]] if isinstance(arguments.get("chat_id"), str) else []
    found += [c for c in arguments.get("chat_ids") or [] if isinstance(c, str)]
    found += [c["chat_id"] for c in arguments.get("chats") or [] if isinstance(c, dict) and "chat_id" in c]
    return [str(c) for c in found]


def entry(line: Mapping[str, Any]) -> Entry | None:
    """An audit line as an Entry; None for a line that is not one (cut short, or edited by hand)."""
    try:
        when = datetime.fromisoformat(str(line["time"]).replace("Z", "+00:00"))
        tool, outcome = str(line["tool"]), str(line["outcome"])
    except (KeyError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    ids = _chat_ids(line)
    found = line.get("chat_titles")
    # {chat id: title}; lines of housekeeping runs before 2026-12 held a list, in the order of ``chats``.
    titles: dict[str, Any] = found if isinstance(found, dict) else dict(zip(ids, found, strict=False)) if isinstance(
        found, list) else {}  # fmt: skip
    chats = [Chat(c, str(titles[c]) if titles.get(c) else None) for c in ids]
    confirmed = line.get("confirmed_by")
    detail = line.get("detail")
    return Entry(when, tool, outcome, chats, str(confirmed) if confirmed else None, str(detail) if detail else None,
                 line.get("sandbox") is True)  # fmt: skip


def read(path: Path) -> tuple[list[Entry], int]:
    """Every entry in the file, newest first, and how many lines could not be read (a torn line: skipped). An act
    is on record twice, before it was sent ("sending") and how it ended: shown once, by how it ended; a
    "sending" line with no end on record (the process was killed meanwhile) says it may have been applied."""
    lines: list[dict[str, Any]] = []
    unreadable = 0
    with path.open(encoding="utf-8", errors="replace") as file:
        for text in file:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if isinstance(line, dict) and entry(line) is not None:
                lines.append(line)
            else:
                unreadable += 1
    ended = {line["act"] for line in lines if line.get("act") and line.get("outcome") != "sending"}
    entries: list[Entry] = []
    for line in lines:
        if line.get("outcome") == "sending":
            if line.get("act") in ended:
                continue
            line = {**line, "detail": "no outcome on record: it may have been applied (check in Cliq)"}
        found = entry(line)
        assert found is not None
        entries.append(found)
    # Newest first. Lines written in the same millisecond: the later line in the file is the newer one, and a
    # stable sort keeps the order it is given, so the file order is reversed before sorting.
    entries.reverse()
    entries.sort(key=lambda e: e.time, reverse=True)
    return entries, unreadable


def since(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``1d``, ``2w`` before ``now``, or a date or time (ISO 8601, local time if no offset)."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text.lower())
    if match:
        return now - timedelta(seconds=int(match[1]) * UNITS[match[2]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        hint = "Use 30m, 12h, 1d, 2w or 2026-01-31."
        raise ConfigurationError(f"--since {text!r} is neither an age nor a date.", hint) from None
    return when if when.tzinfo else when.astimezone()


def select(
    entries: Iterable[Entry],
    *,
    after: datetime | None = None,
    tool: str | None = None,
    chat: str | None = None,
    outcome: str | None = None,
) -> list[Entry]:
    wanted = (chat or "").strip().lower()

    def about(e: Entry) -> bool:
        return any(c.id.lower() == wanted or (c.title and wanted in c.title.lower()) for c in e.chats)

    return [
        e
        for e in entries
        if (after is None or e.time >= after)
        and (tool is None or e.tool == tool)
        and (outcome is None or e.outcome == outcome)
        and (not wanted or about(e))
    ]


def _chats_cell(chats: list[Chat]) -> str:
    shown = [f"{c.title}\n({c.id})" if c.title else c.id for c in chats[:SHOWN_CHATS]]
    if len(chats) > SHOWN_CHATS:
        shown.append(f"… and {len(chats) - SHOWN_CHATS} more")
    return "\n".join(shown) or "—"


def table(entries: list[Entry], path: Path) -> None:
    """The entries as a table on stdout (rich: colours at a terminal, plain text otherwise)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    colours = {"acted": "green", "dry_run": "cyan", "preview": "cyan", "refused": "yellow", "declined": "yellow"}
    shown = Table(title=f"Audit log {escape(str(path))}", title_justify="left")
    for name in ("time", "tool", "chat", "confirmed", "outcome"):
        # A chat id is never broken across lines (a title may be): ids are what people copy.
        # Nor is an outcome (it is the column that matters): time, tool and confirmation give way, folded.
        wide = {"chat": 21, "outcome": 8}.get(name)
        # Under 100 columns (80 is the usual pipe) time, tool and confirmation fold, so every outcome stays whole.
        narrow = {"time": 10, "tool": 14, "confirmed": 11}.get(name) if console.width < 100 else None
        shown.add_column(name, overflow="fold", min_width=wide, max_width=narrow, no_wrap=name == "outcome")
    for e in entries:
        colour = colours.get(e.outcome, "red")
        shown.add_row(
            e.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            escape(e.tool + (" (sandbox)" if e.sandbox else "")),
            escape(_chats_cell(e.chats)),  # titles are other people's text: never read as markup
            escape(e.confirmed_by or "—"),
            f"[{colour}]{escape(e.outcome)}[/]",
        )
    console.print(shown)


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    try:
        config = GuardConfig.from_env(lambda name: env.get(name) or None)
        after = since(args.since, datetime.now(timezone.utc)) if args.since else None
    except ConfigurationError as exc:
        print(f"cliq-mcp audit: {exc}", file=sys.stderr)
        return 2
    if config.audit_log is None:
        print("cliq-mcp audit: the audit log is off (CLIQ_AUDIT_LOG=off), or no HOME to find it in.", file=sys.stderr)
        return 2
    path = Path(config.audit_log).expanduser()
    try:
        entries, unreadable = read(path)
    except FileNotFoundError:
        print(f"cliq-mcp audit: no audit log at {path} yet: no write went through the guard.", file=sys.stderr)
        return 0
    except OSError as exc:
        print(f"cliq-mcp audit: cannot read {path} ({exc.strerror or type(exc).__name__}).", file=sys.stderr)
        return 1
    found = select(entries, after=after, tool=args.tool, chat=args.chat, outcome=args.outcome)[: max(args.limit, 0)]
    if args.json:
        print(json.dumps([e.as_json() for e in found], ensure_ascii=False, indent=2))
    else:
        table(found, path)
    if unreadable:
        print(f"cliq-mcp audit: skipped {unreadable} line(s) that are not audit entries.", file=sys.stderr)
    return 0
