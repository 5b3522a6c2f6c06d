"""Plans kept by reference. plan_tidy keeps what it proposes under a short handle (``plan-…``) in the account's
state store (else in this process's memory), for CLIQ_CONFIRM_TTL but at least ``PLAN_TTL_S`` from its last
change. close_chats and clear_unread_counts take the handle instead of the chat ids, so that the model never
echoes a hundred ids. Closing takes the plan's next batch (at most ``BATCH`` chats, what one question lists),
re-checks them as they are now (walks.by_plan: a chat active or pinned since the plan is left alone)
and, once a person said yes, acts; the plan then forgets what was settled. A batch cut short by a rate limit
stays the plan's next batch, so that the call for the rest acts on chats already approved. A plan holds chat
ids and times, nothing secret."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from cliq_mcp.core.errors import InvalidArguments, StateUnavailable

BATCH = 50  # chats one question lists, each on a line of its own (and one call acts on)
CLEAR_BATCH = 100  # chats one clear_unread request takes
# A plan only proposes: every chat is read again before an act, and a person is asked. It outlives Cliq's
# 10-minute lock on the chat list, so that a walk a throttle stopped can still be continued into it.
PLAN_TTL_S = 900.0
LOCK_S, LOCK_TRIES, LOCK_POLL_S = 10.0, 250, 0.02  # a plan's writer holds it for a moment; others wait for it


class Keeper(Protocol):
    """What plans need of the state store (state_store.StateStore)."""

    async def get(self, key: str) -> tuple[str, float] | None: ...

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None: ...

    async def lease(self, key: str, owner: str, ttl_s: float) -> float: ...

    async def end_lease(self, key: str, owner: str) -> None: ...


class LocalKeeper:
    """Values with a time to live, and leases, in this process's memory, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> tuple[str, float] | None:
        value, until = self._kept.get(key, ("", 0.0))
        left = until - self._clock()
        return (value, left) if left > 0 else None

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        self._kept[key] = (value, self._clock() + ttl_s)

    async def lease(self, key: str, owner: str, ttl_s: float) -> float:
        held = await self.get(key)
        if held is not None and held[0] != owner:
            return held[1]
        await self.put(key, owner, ttl_s)
        return 0.0

    async def end_lease(self, key: str, owner: str) -> None:
        held = await self.get(key)
        if held is not None and held[0] == owner:
            del self._kept[key]


Due = dict[str, str | None]  # chat id -> its last activity as the plan read it (None: Cliq did not say)


@dataclass
class Plan:
    """What a plan proposes, in its order: chats to close and chats to mark read, each with its last activity
    as the plan read it (a chat active since is left alone); the batch to close that a person approved and that
    was not sent yet."""

    close: Due = field(default_factory=dict)
    clear: Due = field(default_factory=dict)
    batch: list[str] = field(default_factory=list)
    complete: bool = False  # the walk that made it reached the end of the chat list
    include_pinned: bool = False

    def of(self, tool: str) -> Due:
        return self.clear if tool == "clear_unread_counts" else self.close

    def candidates(self, tool: str) -> list[list[str]]:
        """The chats to take next, a batch at a time: to close, first those approved and not sent."""
        if tool == "clear_unread_counts":
            ids = list(self.clear)
            return [ids[i : i + CLEAR_BATCH] for i in range(0, len(ids), CLEAR_BATCH)]
        rest = [c for c in self.close if c not in self.batch]
        return ([self.batch] if self.batch else []) + [rest[i : i + BATCH] for i in range(0, len(rest), BATCH)]

    def dumps(self) -> str:
        return json.dumps({"c": self.close, "r": self.clear, "b": self.batch, "done": self.complete,
                           "p": self.include_pinned})  # fmt: skip

    @classmethod
    def loads(cls, text: str) -> Plan:
        raw = json.loads(text)
        return cls(dict(raw["c"]), dict(raw["r"]), list(raw["b"]), bool(raw["done"]), bool(raw["p"]))


class Plans:
    """The account's plans: kept for ``ttl_s`` from when they were last written; changed one writer at a time
    (a lease on the plan), so that a walk adding to a plan and a batch settling in it lose nothing."""

    def __init__(self, keeper: Keeper, account: str, ttl_s: float) -> None:
        self._keeper = keeper
        self._account = account
        self.ttl_s = ttl_s

    def _key(self, handle: str) -> str:
        return f"{self._account}:plan:{handle}"

    async def keep(self, plan: Plan) -> str:
        """A new plan; its handle."""
        handle = f"plan-{secrets.token_urlsafe(6)}"
        await self._keeper.put(self._key(handle), plan.dumps(), self.ttl_s, secret=False)
        return handle

    async def recall(self, handle: str, tool: str) -> Plan:
        found = await self._keeper.get(self._key(handle))
        if found is None:
            minutes = max(1, round(self.ttl_s / 60))
            again = "without next_token" if tool == "plan_tidy" else f"for a new plan, then {tool} with it"
            raise InvalidArguments(
                f"Nothing was sent: there is no plan {handle} (plans are kept {minutes} min from their last change).",
                f"Call plan_tidy again {again}.",
            )
        return Plan.loads(found[0])

    async def change(self, handle: str, how: Callable[[Plan], None]) -> Plan | None:
        """The plan after ``how`` changed it, written back whole while no one else writes it; None if it is gone."""
        lock, owner = self._key(handle) + ":writing", secrets.token_hex(8)
        for _ in range(LOCK_TRIES):
            if await self._keeper.lease(lock, owner, LOCK_S) == 0:
                break
            await anyio.sleep(LOCK_POLL_S)
        else:
            raise StateUnavailable(f"The plan {handle} was being changed by another call for too long.", "Try again.")
        try:
            found = await self._keeper.get(self._key(handle))
            if found is None:
                return None
            plan = Plan.loads(found[0])
            how(plan)
            await self._keeper.put(self._key(handle), plan.dumps(), self.ttl_s, secret=False)
            return plan
        finally:
            await self._keeper.end_lease(lock, owner)

    async def settle(self, handle: str, tool: str, settled: list[str], not_sent: list[str]) -> Plan | None:
        """Forget the chats ``settled`` (done, left alone, failed for good); for closing, ``not_sent`` joins the
        batch a person approved. None if the plan is gone."""
        gone = set(settled)

        def how(plan: Plan) -> None:
            due = plan.of(tool)
            for chat_id in gone:
                due.pop(chat_id, None)
            if tool != "clear_unread_counts":
                # Approved and not sent yet: what was approved before and is not settled, and what this call did
                # not send (a batch cut by the budget before anyone was asked is in neither: it was not approved).
                plan.batch = list(dict.fromkeys(c for c in [*plan.batch, *not_sent] if c in plan.close))

        return await self.change(handle, how)
