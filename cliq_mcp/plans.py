"""Plans kept by reference. plan_tidy keeps what it proposes under a short handle (``plan-…``) in the account's
state store (else in this process's memory), for CLIQ_CONFIRM_TTL but at least ``PLAN_TTL_S`` from its last
change. close_chats and clear_unread_counts take the handle instead of the chat ids, so that the model never
echoes a hundred ids. Closing takes the plan's next batch (at most ``BATCH`` chats, what one question lists),
re-checks them as they are now (multi_request.by_plan: a chat active or pinned since the plan is left alone)
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

from cliq_mcp.errors import InvalidArguments

BATCH = 50  # chats one question lists, each on a line of its own (and one call acts on)
CLEAR_BATCH = 100  # chats one clear_unread request takes
# A plan only proposes: every chat is read again before an act, and a person is asked. It outlives Cliq's
# 10-minute lock on the chat list, so that a walk a throttle stopped can still be continued into it.
PLAN_TTL_S = 900.0


class Keeper(Protocol):
    """What plans need of the state store (state_store.StateStore)."""

    async def get(self, key: str) -> tuple[str, float] | None: ...

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None: ...


class LocalKeeper:
    """Values with a time to live, in this process's memory, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[str, float]] = {}

    async def get(self, key: str) -> tuple[str, float] | None:
        value, until = self._kept.get(key, ("", 0.0))
        left = until - self._clock()
        return (value, left) if left > 0 else None

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        self._kept[key] = (value, self._clock() + ttl_s)


@dataclass
class Plan:
    """What a plan proposes, in its order: chats to close (chat id -> its last activity as the plan read it;
    None: Cliq did not say) and chats to mark read; the batch to close that a person approved and that was not
    sent yet."""

    close: dict[str, str | None] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    batch: list[str] = field(default_factory=list)
    complete: bool = False  # the walk that made it reached the end of the chat list
    include_pinned: bool = False

    def next_batch(self, tool: str) -> list[str]:
        """The chats to mark read next; to close, those approved and not sent, else all in order (by_plan reads
        them a batch at a time)."""
        return self.clear[:CLEAR_BATCH] if tool == "clear_unread_counts" else self.batch or list(self.close)

    def left(self, tool: str) -> int:
        return len(self.clear) if tool == "clear_unread_counts" else len(self.close)

    def dumps(self) -> str:
        return json.dumps({"c": self.close, "r": self.clear, "b": self.batch, "done": self.complete,
                           "p": self.include_pinned})  # fmt: skip

    @classmethod
    def loads(cls, text: str) -> Plan:
        raw = json.loads(text)
        return cls(dict(raw["c"]), list(raw["r"]), list(raw["b"]), bool(raw["done"]), bool(raw["p"]))


class Plans:
    """The account's plans: kept for ``ttl_s`` from when they were last written."""

    def __init__(self, keeper: Keeper, account: str, ttl_s: float) -> None:
        self._keeper = keeper
        self._account = account
        self.ttl_s = ttl_s

    def _key(self, handle: str) -> str:
        return f"{self._account}:plan:{handle}"

    async def keep(self, plan: Plan, handle: str | None = None) -> str:
        handle = handle or f"plan-{secrets.token_urlsafe(6)}"
        await self._keeper.put(self._key(handle), plan.dumps(), self.ttl_s, secret=False)
        return handle

    async def recall(self, handle: str, tool: str) -> Plan:
        found = await self._keeper.get(self._key(handle))
        if found is None:
            minutes = max(1, round(self.ttl_s / 60))
            raise InvalidArguments(
                f"Nothing was sent: there is no plan {handle} (plans are kept {minutes} min, CLIQ_CONFIRM_TTL).",
                f"Call plan_tidy again, then {tool} with the plan it gives.",
            )
        return Plan.loads(found[0])

    async def settle(self, handle: str, tool: str, settled: list[str], not_sent: list[str]) -> Plan | None:
        """Forget the chats ``settled`` (done, left alone, failed); for closing, ``not_sent`` becomes the next
        batch (a person approved it). None if the plan is gone."""
        found = await self._keeper.get(self._key(handle))
        if found is None:
            return None
        plan = Plan.loads(found[0])
        gone = set(settled)
        if tool == "clear_unread_counts":
            plan.clear = [c for c in plan.clear if c not in gone]
        else:
            plan.close = {c: when for c, when in plan.close.items() if c not in gone}
            # Approved and not sent yet: what was approved before and is not settled, and what this call did not
            # send (a batch cut by the budget before anyone was asked is not in either: it was not approved).
            plan.batch = list(dict.fromkeys(c for c in [*plan.batch, *not_sent] if c in plan.close))
        await self.keep(plan, handle)
        return plan
