"""A housekeeping policy (housekeeping/policy.py) against the workspace: which chats it selects, and why.

``plan`` walks every chat (``GET /chats``, 100 a page) and judges each by the policy, asking for a chat
alone (``GET /chats/{id}``) only when the list leaves out what the policy needs (its unread count, its last
message). It stops at a throttle, a deadline or an answer-size bound with a cursor that resumes right after
the last chat judged, so ``cliq-mcp tidy`` (which waits out rate windows) and the ``preview_policy`` tool
(which returns) share it. ``recheck`` judges one chat again right before an act (the guard calls it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from math import ceil
from typing import Any

from cliq_mcp.cliq import responses as r
from cliq_mcp.core.errors import (
    ApiError,
    AuthenticationError,
    CliqError,
    InvalidArguments,
    NotFound,
    ServerError,
    Throttled,
)
from cliq_mcp.core.text import clean, parse_time
from cliq_mcp.housekeeping.policy import TOOLS, UNSAID_MUTED, Action, Facts, Policy, Verdict, parse_policy
from cliq_mcp.tools.cursors import Loop, seal, unseal
from cliq_mcp.tools.inputs import ListChats, PreviewPolicy, Request, parse_arguments
from cliq_mcp.tools.row import Catalogue, Operation, ReportProgress, Sender
from cliq_mcp.tools.walks import TIME_BUDGET_S, merged, muted_chats, read_chat

ANSWER_CHATS = 500  # chats judged in one tool answer (text.LISTED)


@dataclass
class Judged:
    """One chat the walk considered: what the policy says of it."""

    chat_id: str
    name: str
    chat_type: str
    action: Action | None
    reason: str
    arguments: dict[str, Any] | None = None  # the act's tool arguments (action set and within the limits)
    over_limit: bool = False  # due, but the run's limits are reached: left for a later run

    @property
    def tool(self) -> str | None:
        return TOOLS[self.action] if self.action and not self.over_limit else None


@dataclass
class Cursor:
    """Where a walk is: the page token, the chats already judged on that page (short hashes of their ids: a
    chat that moved or went meanwhile cannot make the page be judged again), chats listed before it, the
    acts planned so far (the run's limits count across calls), and where the walk is in Cliq's list cursors
    (``loop``: a cycle of them is caught however the walk is split across calls). ``unsaid_muted``: chats kept
    out by the calls before because Cliq's muted list could not be read whole (preview_policy's answers)."""

    token: str | None = None
    seen: list[str] = field(default_factory=list)
    listed: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0  # list entries without a chat id met so far
    loop: Loop = field(default_factory=Loop)
    unsaid_muted: int = 0

    def encode(self, sha256: str, key: bytes) -> str:
        state = {"t": self.token, "s": self.seen, "l": self.listed, "n": self.planned, "u": self.unreadable}
        if self.loop.dump() is not None:
            state["c"] = self.loop.dump()
        if self.unsaid_muted:
            state["m"] = self.unsaid_muted
        return seal(state, key, sha256[:16])

    @classmethod
    def decode(cls, text: str, sha256: str, key: bytes) -> Cursor:
        """A cursor this server signed, for this policy; anything else (forged counts too) is refused."""
        raw = unseal(text, key, sha256[:16], "preview_policy", "this policy")
        loop = Loop.load(raw.get("c"))
        if not (
            isinstance(raw.get("l"), int)
            and isinstance(raw.get("u"), int)
            and isinstance(raw.get("t"), str | None)
            and isinstance(raw.get("s"), list)
            and all(isinstance(h, str) and len(h) == 8 for h in raw["s"])
            and isinstance(raw.get("n"), dict)
            and all(k in TOOLS and isinstance(v, int) and v >= 0 for k, v in raw["n"].items())
            and loop is not None
            and type(raw.get("m", 0)) is int
        ):
            raise InvalidArguments("Invalid next_token: it is not one preview_policy gave for this policy.", "")
        return cls(raw["t"], raw["s"], raw["l"], raw["n"], raw["u"], loop, raw.get("m", 0))


def _short_hash(chat_id: str) -> str:
    return hashlib.sha256(chat_id.encode()).hexdigest()[:8]


@dataclass
class Walked:
    """What one ``plan`` call found. ``stopped`` is None when every chat was judged."""

    judged: list[Judged]
    listed: int  # chats listed by this walk so far (this call and the calls it continues)
    stopped: str | None = None  # why it stopped early: "throttled", "time budget", "answer size", "failed"
    throttle: Throttled | None = None
    cursor: Cursor | None = None  # to continue (None: complete)
    error: CliqError | None = None  # what failed, when stopped is "failed"
    limit_reached: bool = False  # ``until_limit``: the run's acts are all planned; later chats were not judged
    unreadable: int = 0  # list entries without a chat id (not judged: nothing can be done to them)


def facts(chat: r.ChatObject) -> Facts:
    """The policy's view of a chat (None where Cliq did not tell)."""
    info = chat.last_message_info
    return Facts(
        chat_id=chat.chat_id,
        name=chat.name,  # as Cliq has it: matched whole (tidy_policy.normal), cleaned only to be shown
        chat_type=chat.chat_type,
        members=chat.participant_count,
        last_active=parse_time(chat.last_modified_time),
        pinned=chat.pinned,
        muted=chat.muted,
        unread=chat.unread_message_count,
        last_message_id=info.message_id if info else None,
    )


NOT_JUDGED = "not judged"  # how a verdict the policy could not reach begins (the chat is left alone)


def unsaid_muted(judged: list[Judged]) -> int:
    """How many of ``judged`` were kept out only because Cliq's muted list could not be read whole (it repeated
    its cursor, or held an entry without a chat id): the policy could not be applied to them."""
    return sum(item.reason == f"excluded: {UNSAID_MUTED}" for item in judged)


def muted_why(unsaid: int) -> str:
    return (f"Cliq's muted-chat list could not be read whole, so {unsaid} chat(s) were kept out as "
            f"{UNSAID_MUTED!r}")  # fmt: skip


async def judge(
    policy: Policy, chat: r.ChatObject, now: datetime, client: Sender, catalogue: Catalogue, tool: str
) -> tuple[Facts, Verdict]:
    """The policy's verdict on a chat; when its list entry leaves out what the verdict needs, the chat is read
    alone first (no verdict rests on an absent field)."""
    seen = facts(chat)
    verdict = policy.judge(seen, now)
    if verdict.needs:
        try:
            seen = facts(merged(chat, await read_chat(client, catalogue, chat.chat_id, tool)))
        except InvalidArguments:
            return seen, Verdict(None, f"{NOT_JUDGED}: its id cannot be asked about alone")
        except ApiError as exc:
            if isinstance(exc, Throttled | AuthenticationError):
                raise
            # Cliq will not show this one chat (404 though it was listed, 403, an error of its own): it is left
            # alone, not the run; gone or not, it was not judged.
            return seen, Verdict(None, f"{NOT_JUDGED}: Cliq would not show it alone: {clean(exc.message, 100)}")
        verdict = policy.judge(seen, now)
        if verdict.needs:
            verdict = Verdict(None, f"{NOT_JUDGED}: Cliq did not tell its {verdict.needs}, even alone")
    return seen, verdict


def _arguments(action: Action, seen: Facts) -> dict[str, Any]:
    if action == "mark_read":
        return {"chat_id": seen.chat_id, "message_id": seen.last_message_id}
    if action == "clear_unread":
        return {"chat_ids": [seen.chat_id]}
    return {"chat_id": seen.chat_id}


Wait = Callable[[Throttled], Awaitable[bool]]


async def plan(
    policy: Policy,
    client: Sender,
    catalogue: Catalogue,
    *,
    start: Cursor | None = None,
    deadline: float | None = None,
    most: int | None = None,
    progress: ReportProgress | None = None,
    tool: str = "preview_policy",
    now: datetime | None = None,
    wait: Wait | None = None,
    into: list[Judged] | None = None,
    barred: Callable[[str], str] | None = None,
    until_limit: bool = False,
) -> Walked:
    """Judge every chat from ``start`` on, in list order, until the end, a throttle, an error, ``client.now()``
    passing ``deadline``, or ``most`` chats judged. Acts are planned in order until the policy's limits are
    reached; chats due after that are marked ``over_limit``. Ages are counted from ``now`` (default: the time
    now). ``wait`` (an unattended run) may wait out a throttle and return True: the same request is then sent
    again, so the walk never leaves its page and judges every chat once. ``into``: the list judged chats are
    appended to as they are judged (what a cancelled walk had judged stays there). ``barred(chat_id)``: why
    this server may not write to a chat (its allow/deny lists), or "". ``until_limit``: stop, complete, once
    the run's limit is planned (a preview: the acts a run would do; the chats after them are not judged)."""
    now = now or datetime.now(timezone.utc)
    cursor = start or Cursor()
    planned = dict(cursor.planned)
    lister = catalogue["list_chats"]
    token, listed = cursor.token, cursor.listed
    page_seen = list(cursor.seen)  # hashes of the chats judged on the current page
    judged: list[Judged] = into if into is not None else []
    seen_tokens: set[str] = {token} if token else set()  # this call's; ``loop`` catches a cycle across calls
    loop = Loop(cursor.loop.saved, cursor.loop.power, cursor.loop.steps)
    unreadable = cursor.unreadable

    def stop(why: str, shown: int, exc: CliqError | None = None) -> Walked:
        throttle = exc if isinstance(exc, Throttled) else None
        error = None if throttle else exc
        cursor = Cursor(token, list(page_seen), listed, dict(planned), unreadable, loop)
        return Walked(judged, shown, why, throttle, cursor, error, unreadable=unreadable)

    muted: set[str] | None = None  # None: not known of every chat (each is then "not said": excluded)
    asked = not policy.exclude.muted
    while not asked:  # Cliq tells the mute state only by its list's filter
        try:
            muted, asked = await muted_chats(client, catalogue, tool), True
        except Throttled as exc:
            if wait is not None and await wait(exc):
                continue
            return stop("throttled", listed, exc)
        except CliqError as exc:
            if start is None:
                raise
            return stop("failed", listed, exc)
    done_ids: set[str] = set()
    while True:
        try:
            page = parse_arguments(ListChats, {"limit": 100, "next_token": token})
            answer = r.read_answer(r.CliqChatList, await client.send(lister.wire(page), lister.rate), tool)
        except Throttled as exc:
            if wait is not None and await wait(exc):
                continue
            return stop("throttled", listed, exc)
        except CliqError as exc:
            if not judged and start is None:
                raise  # nothing to show for it: the caller's error
            return stop("failed", listed, exc)
        ids = [c.chat_id for c in answer.chats]
        page_seen = [h for h in page_seen if h in {_short_hash(i) for i in ids}]  # gone from the page: forgotten
        done_here = set(page_seen)
        for chat in answer.chats:
            if _short_hash(chat.chat_id) in done_here or chat.chat_id in done_ids:  # judged before, or listed twice
                if _short_hash(chat.chat_id) not in done_here:
                    page_seen.append(_short_hash(chat.chat_id))  # judged: the call continuing this one skips it too
                    done_here.add(_short_hash(chat.chat_id))
                continue
            done_ids.add(chat.chat_id)
            if muted is not None and chat.muted is None:
                chat = chat.model_copy(update={"muted": chat.chat_id in muted})
            out_of_time = deadline is not None and client.now() > deadline
            if out_of_time or (most is not None and len(judged) >= most):
                return stop("time budget" if out_of_time else "answer size", listed + len(ids))
            while True:
                try:
                    seen, verdict = await judge(policy, chat, now, client, catalogue, tool)
                    break
                except Throttled as exc:
                    if wait is not None and await wait(exc):
                        continue
                    return stop("throttled", listed + len(ids), exc)
                except CliqError as exc:
                    return stop("failed", listed + len(ids), exc)
            why_barred = barred(seen.chat_id) if barred is not None and verdict.action else ""
            if why_barred:
                verdict = Verdict(None, f"excluded: {why_barred}")
            item = Judged(seen.chat_id, clean(seen.name or "", 200), seen.chat_type or "?", verdict.action,
                          verdict.reason)  # fmt: skip
            if verdict.action is not None:
                rule = policy.rules[verdict.action]
                total = sum(planned.values())
                if total >= policy.limits.max_acts or planned.get(verdict.action, 0) >= (rule.max_acts or 10**9):
                    item.over_limit = True
                    item.reason += "; over this run's limit (max_acts): left for a later run"
                else:
                    planned[verdict.action] = planned.get(verdict.action, 0) + 1
                    item.arguments = _arguments(verdict.action, seen)
            judged.append(item)
            page_seen.append(_short_hash(chat.chat_id))
            if until_limit and sum(planned.values()) >= policy.limits.max_acts:  # this page's entries without an id
                met = unreadable + len(answer.unreadable)  # were met too: a run would not act on such a plan
                return Walked(judged, listed + len(ids) + len(answer.unreadable), limit_reached=True, unreadable=met)
        listed += len(ids) + len(answer.unreadable)
        unreadable += len(answer.unreadable)
        if progress is not None:
            await progress(listed, None, f"{listed} chats judged, {sum(planned.values())} acts planned")
        next_token = answer.next_token
        if not next_token:
            return Walked(judged, listed, unreadable=unreadable)
        if next_token in seen_tokens or loop.repeated(next_token):  # following it would loop; the walk is not whole
            again = "" if start is None else " (some chats may be judged twice)"
            failure = ServerError(f"Cliq repeated a list cursor, so the rest of the chats could not be listed{again}.",
                                  status=200)  # fmt: skip
            return Walked(judged, listed, "failed", None, None, failure, unreadable=unreadable)
        seen_tokens.add(next_token)
        token, page_seen = next_token, []


async def recheck(
    policy: Policy, action: Action, chat_id: str, client: Sender, catalogue: Catalogue, now: datetime
) -> tuple[str, str | None]:
    """Right before an act: ("", its name) if the chat, read now, is still due for ``action`` under the policy;
    else (why not, its name). Reads the chat alone (``GET /chats/{id}``, with its unread count and last
    message); what that answer leaves out is not told, and no act rests on it."""
    try:
        now_seen = await read_chat(client, catalogue, chat_id, TOOLS[action])
        if policy.exclude.muted and now_seen.muted is None:  # only the list's filter tells the mute state
            muted = await muted_chats(client, catalogue, TOOLS[action], [chat_id])
            now_seen = now_seen.model_copy(update={"muted": None if muted is None else chat_id in muted})
    except NotFound:
        return "Cliq did not find it alone now", None
    name = clean(now_seen.name or "", 80) or None
    verdict = policy.judge(facts(now_seen), now)
    if verdict.action == action:
        return "", name
    if verdict.needs:
        return f"not judged now: Cliq did not tell its {verdict.needs}", name
    why = f"now {verdict.reason}" if verdict.action is None else f"now due for {verdict.action}, not {action}"
    return why, name


async def preview_policy(
    op: Operation, request: Request, client: Sender, progress: ReportProgress, catalogue: Catalogue
) -> Any:
    """The ``preview_policy`` tool: what a policy would do, from its text; reads only."""
    assert isinstance(request, PreviewPolicy)
    try:
        policy = parse_policy(request.policy.encode(), "")
    except CliqError as exc:
        raise InvalidArguments(exc.message, exc.hint) from None
    start = Cursor.decode(request.next_token, policy.sha256, client.cursor_key) if request.next_token else None
    walked = await plan(
        policy, client, catalogue, start=start, deadline=client.now() + TIME_BUDGET_S, most=ANSWER_CHATS,
        progress=progress, tool=op.name, until_limit=True, barred=client.write_barred,
    )  # fmt: skip
    whole = start is None and walked.cursor is None and not walked.limit_reached  # every chat, in this answer
    unsaid = (start.unsaid_muted if start is not None else 0) + unsaid_muted(walked.judged)  # the whole walk's
    throttle = walked.throttle
    problem = throttle or walked.error
    why = f"{walked.stopped}: {clean(problem.message, 120)}" if problem else walked.stopped
    wait = ceil(throttle.retry_after) if throttle is not None and throttle.retry_after is not None else None
    if throttle is not None and throttle.status and wait is None:
        # Cliq's own throttle, no Retry-After: asking sooner extends its lock (the notes: up to 10 minutes).
        why, wait = "Cliq throttled the chat list or a chat read; it may refuse them for up to 10 minutes", 600
    shown = walked.judged if request.every_chat else [j for j in walked.judged if j.tool]
    again: dict[str, Any] | None = None
    if walked.cursor is not None:
        walked.cursor.unsaid_muted = unsaid
        again = {"next_token": walked.cursor.encode(policy.sha256, client.cursor_key)}
        again |= {"every_chat": True} if request.every_chat else {}
    return {
        "policy": policy.label, "judged": len(walked.judged), "listed": walked.listed,
        "planned": sum(1 for j in walked.judged if j.tool), "over_limit": sum(j.over_limit for j in walked.judged),
        "not_judged": sum(j.reason.startswith(NOT_JUDGED) for j in walked.judged),
        "chats": [vars(j) | {"tool": j.tool} for j in shown],
        "complete": walked.stopped is None and not walked.unreadable and not unsaid,
        "why": why or (f"Cliq's list held {walked.unreadable} entries without a chat id: not judged"
                       if walked.unreadable else muted_why(unsaid) + "; preview again later" if unsaid else None),
        "limit_reached": walked.limit_reached or None,
        "excluded": excluded(policy, walked.judged, whole=whole),
        "retry_after_s": wait, "continue_with": again,
    }  # fmt: skip


def excluded(policy: Policy, judged: list[Judged], *, whole: bool) -> dict[str, Any]:
    """What the exclusions kept out, by reason, and (``whole``: ``judged`` is every chat) the exclusion entries
    that kept out no chat (a pattern that never matches is a mistake a person should see before a night run
    proves it; of part of the chats, that cannot be said)."""
    counts: dict[str, int] = {}
    for item in judged:
        if item.reason.startswith("excluded: "):
            reason = item.reason.removeprefix("excluded: ")
            counts[reason] = counts.get(reason, 0) + 1
    unused = [f"names {p!r}" for p in policy.exclude.names if f"name matches {p!r}" not in counts]
    seen = {item.chat_id for item in judged}
    unused += [f"chat_ids {c!r}" for c in policy.exclude.chat_ids if c not in seen]
    return {"counts": counts, "unused": unused if whole else []}
