"""Everyday tasks, as an assistant would do them, against the simulated workspace (issue #21).

Each task is a scripted assistant: it calls the tools the descriptions point to, reads only the text a model
reads (and the structured content a program would, for ids it must pass on), follows each answer's
``continue_with`` and waits its ``retry_after_s``. A person says yes to every question. Measured per task, in
both protocol eras: tool calls, bytes of text read, requests that reached the simulated Cliq against the least
the API allows, questions asked, and time waited (on a fake clock: the waits are Cliq's and our pacing's,
counted, not slept). The final picture is checked against the workspace: a task that ends untrue is marked.

Deterministic: the workspace is the seeded, document-shaped one (list entries lack some unread counts and last
messages, as Zoho's document allows), with Cliq's rate limits and our default pacing on.

Run: ``python -m benchmarks.tasks`` (prints the table; ``--write`` puts it into RESULTS.md and README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from mcp import Client
from mcp.types import ElicitResult, TextContent

from cliq_mcp.core.config import Settings
from cliq_mcp.sandbox import Workspace, create_app
from cliq_mcp.sandbox.render import listed
from cliq_mcp.serve.server import build_server

ROOT = Path(__file__).resolve().parent.parent
ERAS = ("auto", "legacy")
Q2 = "2890538000000099999"  # the seed's "Q2 Product Review" group chat


class FakeTime:
    """The server's, the simulated Cliq's and the assistant's clock: a wait moves it, instantly."""

    def __init__(self) -> None:
        self.now = time.time()  # the chats' ages are real ones (plan_tidy judges them by the date)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


@dataclass
class Run:
    """One task in one era, as it went."""

    calls: list[str] = field(default_factory=list)
    text_bytes: int = 0
    asked: int = 0
    requests: int = 0
    minimum: int = 0
    waited_s: float = 0.0
    true: bool = False
    note: str = ""


class Assistant:
    """Calls tools as a model does and keeps the books."""

    def __init__(self, client: Client, clock: FakeTime, run: Run) -> None:
        self.client, self.clock, self.run = client, clock, run

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        result = await self.client.call_tool(tool, arguments)
        text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
        self.run.calls.append(tool)
        self.run.text_bytes += len(text.encode())
        if result.is_error:
            raise RuntimeError(f"{tool} {json.dumps(arguments)} failed: {text[:300]}")
        return text, result.structured_content or {}

    async def until_complete(self, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """Call, then follow ``continue_with`` (waiting ``retry_after_s`` first) until the answer is complete."""
        answers = []
        while True:
            _, data = await self.call(tool, arguments)
            answers.append(data)
            if data.get("complete", True) or not data.get("continue_with"):
                return answers
            wait = data.get("retry_after_s") or 0
            await self.clock.sleep(wait)
            self.run.waited_s += wait
            arguments = data["continue_with"]
            if len(answers) > 50:
                raise RuntimeError(f"{tool} did not finish in 50 calls")


def mine(ws: Workspace) -> list[Any]:
    return [c for c in ws.chats.values() if ws.is_member(c) and not c.closed]


def pages(n: int) -> int:
    return max(1, math.ceil(n / 100))


# ----------------------------------------------------------------------------------------------------- tasks


async def whats_unread(me: Assistant, ws: Workspace) -> None:
    chats = mine(ws)
    truth = {c.chat_id: c.unread for c in chats if c.unread > 0}
    answers = await me.until_complete("list_chats", {"unread": True})
    told = {c["chat_id"]: c["unread"] for a in answers for c in a.get("chats", [])}
    me.run.minimum = pages(len(chats)) + sum(1 for c in chats if not listed(ws, c)[0])
    me.run.true = told == truth


async def mark_everything_read(me: Assistant, ws: Workspace) -> None:
    chats = mine(ws)
    await me.until_complete("clear_unread_counts", {"all": True})
    ordered = sorted(chats, key=lambda c: -c.modified_ms)  # pages as Cliq lists them: newest first
    to_clear = [ordered[i : i + 100] for i in range(0, len(ordered), 100)]
    sent = sum(1 for page in to_clear if any(c.unread or not listed(ws, c)[0] for c in page))
    me.run.minimum = pages(len(chats)) + sent
    me.run.true = all(c.unread == 0 for c in mine(ws))


async def close_idle_chats(me: Assistant, ws: Workspace) -> None:
    now = datetime.fromtimestamp(me.clock(), timezone.utc)
    chats = mine(ws)
    due = {c.chat_id for c in chats if not c.pinned
           and now - datetime.fromtimestamp(c.modified_ms / 1000, timezone.utc) > timedelta(days=90)}  # fmt: skip
    plans = await me.until_complete("plan_tidy", {"inactive_days": 90})
    handle = plans[-1]["plan"]
    await me.until_complete("close_chats", {"plan": handle})
    closed = {c.chat_id for c in chats if c.closed}
    # The list walk, one close each, and the re-check before each batch of 50 (one list request by ids).
    me.run.minimum = pages(len(chats)) + len(due) + math.ceil(len(due) / 50)
    me.run.true = closed == due
    me.run.note = f"{len(due)} of {len(chats)} chats idle 90 days"


async def remove_a_member(me: Assistant, ws: Workspace) -> None:
    _, data = await me.call("list_chat_members", {"chat_id": Q2})
    ryan = next(m["user_id"] for m in data["members"] if m.get("name") == "Ryan West")
    await me.call("remove_chat_members", {"chat_id": Q2, "user_ids": [ryan]})
    me.run.minimum = 3 + 1  # the members, the chat (its name, for the question), the removal; the re-check
    me.run.true = ryan not in ws.chats[Q2].members and len(ws.chats[Q2].members) == 4


async def group_chat_by_names(me: Assistant, ws: Workspace) -> None:
    ids = []
    for name in ("Alice Johnson", "Bob Carter"):
        _, data = await me.call("find_people", {"query": name})
        ids.append(next(p["user_id"] for p in data["people"] if p.get("exact")))
    before = set(ws.chats)
    _, data = await me.call("create_chat", {"chat_type": "group_chat", "title": "Launch", "user_ids": ids})
    (new,) = set(ws.chats) - before
    me.run.minimum = 2 + 1  # one lookup per person, the create
    me.run.true = ws.chats[new].name == "Launch" and set(ids) < set(ws.chats[new].members)


async def rename_and_mark_unread(me: Assistant, ws: Workspace) -> None:
    _, data = await me.call("search_chats", {"name": "Vendor Escalations"})
    found = data["chats"][0]
    chat_id, latest = found["chat_id"], found.get("last_message_id")
    ws.chats[chat_id].unread = 0
    await me.call("rename_chat", {"chat_id": chat_id, "title": "Vendor Escalations (EU)"})
    await me.call("mark_chat_unread", {"chat_id": chat_id} | ({"message_id": latest} if latest else {}))
    # The search, the rename, the mark; and the chat's own answer for its latest message id where the search's
    # entry did not tell it (Zoho's list entries may leave the last message out): no request can learn it for less.
    me.run.minimum = 3 + (latest is None)
    me.run.true = ws.chats[chat_id].name == "Vendor Escalations (EU)" and ws.chats[chat_id].unread > 0


async def mute_the_bots(me: Assistant, ws: Workspace) -> None:
    answers = await me.until_complete("list_chats", {"chat_type": "bot"})
    bots = [c["chat_id"] for a in answers for c in a.get("chats", [])]
    for chat_id in bots:
        await me.call("mute_chat", {"chat_id": chat_id})
    truth = [c for c in mine(ws) if c.chat_type == "bot"]
    me.run.minimum = pages(len(truth)) + len(truth)
    me.run.true = sorted(bots) == sorted(c.chat_id for c in truth) and all(c.muted for c in truth)


TASKS: list[tuple[str, Callable[[Assistant, Workspace], Awaitable[None]]]] = [
    ("what's unread?", whats_unread),
    ("mark everything read", mark_everything_read),
    ("close every unpinned chat idle 90 days", close_idle_chats),
    ("who's in it, remove Ryan", remove_a_member),
    ("group chat with two people by name", group_chat_by_names),
    ("rename and mark unread", rename_and_mark_unread),
    ("mute the bot chats", mute_the_bots),
]


async def run_task(task: Callable[[Assistant, Workspace], Awaitable[None]], era: str) -> Run:
    clock = FakeTime()
    ws = Workspace(clock=clock)  # document-shaped, Cliq's rate limits on
    app, seen = create_app(ws), []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            seen.append((scope["method"], scope["path"]))
        await app(scope, receive, send)

    run = Run()

    async def person(context: Any, params: Any) -> ElicitResult:
        run.asked += 1
        return ElicitResult(action="accept", content={"confirm": True})

    with tempfile.TemporaryDirectory() as state:
        settings = Settings.from_env({
            "CLIQ_API_BASE_URL": "http://cliq.test/api/v3", "CLIQ_ACCOUNTS_URL": "http://cliq.test",
            "CLIQ_ACCESS_TOKEN": "sandbox-token", "XDG_STATE_HOME": state,
            "CLIQ_AUDIT_LOG": str(Path(state) / "audit.jsonl"),
        })  # fmt: skip
        server = build_server(settings, transport=httpx.ASGITransport(app=recording), sleep=clock.sleep,
                              clock=clock, wall_clock=clock)  # fmt: skip
        started = clock()
        async with Client(server, mode=era, elicitation_callback=person) as client:
            await task(Assistant(client, clock, run), ws)
    run.requests = len(seen)
    run.waited_s = clock() - started
    return run


def table(runs: dict[str, dict[str, Run]]) -> str:
    lines = [
        "| task | calls | text read | requests (least the API allows) | questions | waited | true at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, by_era in runs.items():
        auto, legacy = by_era["auto"], by_era["legacy"]
        requests = f"{auto.requests} ({auto.minimum})"
        if legacy.requests != auto.requests:
            requests = f"{auto.requests} / {legacy.requests} handshake era ({auto.minimum})"
        waited = f"{auto.waited_s:.0f} s" if auto.waited_s >= 1 else "-"
        note = f" ({auto.note})" if auto.note else ""
        lines.append(
            f"| {name}{note} | {len(auto.calls)} | {auto.text_bytes:,} B | {requests} | {auto.asked} "
            f"| {waited} | {'yes' if auto.true and legacy.true else 'NO'} |"
        )
    return "\n".join(lines)


async def measure() -> dict[str, dict[str, Run]]:
    return {name: {era: await run_task(task, era) for era in ERAS} for name, task in TASKS}


START, END = "<!-- tasks:start -->", "<!-- tasks:end -->"


def put_between_markers(path: Path, text: str) -> None:
    content = path.read_text(encoding="utf-8")
    if START not in content or END not in content:
        raise SystemExit(f"{path}: no {START} … {END} block to put the table in")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tasks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="put the table into RESULTS.md and README.md")
    args = parser.parse_args(argv)
    runs = anyio.run(measure)
    text = table(runs)
    print(text)
    for name, by_era in runs.items():
        for era, run in by_era.items():
            print(f"  {name} [{era}]: {' -> '.join(run.calls)}", file=sys.stderr)
    if args.write:
        for path in (ROOT / "benchmarks" / "RESULTS.md", ROOT / "README.md"):
            put_between_markers(path, text)
    return 0 if all(r.true for by_era in runs.values() for r in by_era.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
