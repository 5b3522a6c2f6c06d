"""Pacing: keep the account's calls per rate limit below Cliq's documented per-minute thresholds.

Cliq locks an operation for up to 10 minutes (50 for typing) once its threshold is exceeded, so
sending a request that would exceed it costs far more than waiting a little. A short wait is taken;
a long one is refused with the time to wait, without sending anything.

The windows live in the shared state store (``state_store.py``), keyed by account and ``RateLimit.key``,
so every process and replica of one Cliq account draws on one budget. ``LocalWindows`` keeps them in this
process's memory when there is no store.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from cliq_mcp.errors import Throttled
from cliq_mcp.wire import RateLimit

SHARE = 0.9  # use at most this share of Cliq's threshold, leaving room for the user's other clients
WINDOW_S = 60.0
MAX_WAIT_S = 10.0


class Windows(Protocol):
    async def admit(self, key: str, limit: int, window_s: float) -> float:
        """Record one request in ``key``'s sliding window and return 0 if fewer than ``limit`` were recorded
        in the last ``window_s`` seconds; otherwise record nothing and return the seconds until a slot frees."""
        ...


class LocalWindows:
    """Sliding windows in this process's memory, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        now = self._clock()
        sent = self._sent.setdefault(key, deque())
        while sent and now - sent[0] >= window_s:
            sent.popleft()
        if len(sent) < limit:
            sent.append(now)
            return 0.0
        return sent[0] + window_s - now


def allowance(rate: RateLimit) -> int:
    """Requests of ``rate`` this account sends in one window (``WINDOW_S``)."""
    return max(1, math.floor(rate.per_minute * SHARE))


class Pacer:
    def __init__(
        self,
        windows: Windows,
        account: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._windows = windows
        self._account = account
        self._sleep = sleep

    async def wait(self, rate: RateLimit) -> None:
        allowed = allowance(rate)
        key = f"{self._account}:pace:{rate.key}"
        waited = 0.0
        while True:
            delay = await self._windows.admit(key, allowed, WINDOW_S)
            if delay <= 0:
                return
            # Bounded: other processes may take the slot we waited for, but we wait at most MAX_WAIT_S in all.
            if waited + delay > MAX_WAIT_S:
                lock = f" and locks it for up to {rate.lock} when exceeded" if rate.lock else ""
                raise Throttled(
                    f"Not sent: Cliq allows about {rate.per_minute} {_named(rate.key)} requests a minute{lock}, and "
                    f"{allowed} were sent for this account in the last minute.",
                    f"Try again in {math.ceil(delay)} s.",
                    status=0,  # refused here, before Cliq saw it
                    code="paced",
                    retry_after=delay,
                )
            waited += delay
            await self._sleep(delay)


def _named(key: str) -> str:
    """Which requests a limit counts, in words (a tool may make several kinds: close_chats also lists)."""
    return {
        "list_chats": "chat-list (GET /chats)",
        "get_chat": "get-chat (GET /chats/{id})",
        "per_chat_put": "per-chat update (PUT /chats/{id})",
        "bulk_put": "bulk update (PUT /chats)",
        "membership": "leave/mute/unmute",
    }.get(key, key.replace("_", " "))
