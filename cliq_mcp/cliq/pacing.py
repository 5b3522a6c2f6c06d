"""Pacing: keep the account's calls per rate limit below Cliq's documented per-minute thresholds.

Cliq locks an operation for up to 10 minutes (50 for typing) once its threshold is exceeded, so
sending a request that would exceed it costs far more than waiting a little. A short wait is taken;
a long one is refused with the time to wait, without sending anything.

The windows live in the shared state store (``core/state_store.py``), keyed by account and ``RateLimit.key``,
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

from cliq_mcp.cliq.wire import RateLimit
from cliq_mcp.core.errors import Paced

SHARE = 0.9  # use at most this share of Cliq's threshold, leaving room for the user's other clients
WINDOW_S = 60.0
MAX_WAIT_S = 10.0


class Windows(Protocol):
    async def admit(self, key: str, limit: int, window_s: float) -> float:
        """Record one request in ``key``'s sliding window and return 0 if fewer than ``limit`` were recorded
        in the last ``window_s`` seconds; otherwise record nothing and return the seconds until a slot frees."""
        ...

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        """Without recording anything: how many requests ``admit`` would take now, and the seconds until it
        would take ``need`` of them (0 if it would now)."""
        ...


class LocalWindows:
    """Sliding windows in this process's memory, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    def _window(self, key: str, window_s: float) -> tuple[deque[float], float]:
        now = self._clock()
        sent = self._sent.setdefault(key, deque())
        while sent and now - sent[0] >= window_s:
            sent.popleft()
        return sent, now

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        sent, now = self._window(key, window_s)
        if len(sent) < limit:
            sent.append(now)
            return 0.0
        return sent[0] + window_s - now

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        sent, now = self._window(key, window_s)
        free = max(0, limit - len(sent))
        leaving = min(len(sent), max(0, min(need, limit) - free))  # the oldest that must leave first
        return free, sent[leaving - 1] + window_s - now if leaving else 0.0


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

    async def room(self, rate: RateLimit, need: int = 1) -> tuple[int, float]:
        """How many ``rate`` requests this account may send now, and the seconds until it may send ``need``."""
        return await self._windows.room(f"{self._account}:pace:{rate.key}", allowance(rate), WINDOW_S, need)

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
                raise Paced(
                    f"Not sent: Cliq allows about {rate.per_minute} {_named(rate.key)} requests a minute{lock}; this "
                    f"server keeps to {allowed} for the account (room for its other clients), and the last minute "
                    "used them.",
                    f"Try again in {math.ceil(delay)} s.",
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
