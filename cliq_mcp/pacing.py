"""Pacing: keep our own calls per operation below Cliq's documented per-minute thresholds.

Cliq locks an operation for up to 10 minutes (50 for typing) once its threshold is exceeded, so
sending a request that would exceed it costs far more than waiting a little. A short wait is taken;
a long one is refused with the time to wait, without sending anything.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from cliq_mcp.errors import Throttled
from cliq_mcp.wire import RateLimit

SHARE = 0.9  # use at most this share of Cliq's threshold, leaving room for the user's other clients
WINDOW_S = 60.0
MAX_WAIT_S = 10.0


class Pacer:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[RateLimit, deque[float]] = {}

    async def wait(self, rate: RateLimit) -> None:
        allowed = max(1, math.floor(rate.per_minute * SHARE))
        sent = self._sent.setdefault(rate, deque())
        while True:
            now = self._clock()
            while sent and now - sent[0] >= WINDOW_S:
                sent.popleft()
            if len(sent) < allowed:
                sent.append(now)
                return
            delay = sent[0] + WINDOW_S - now
            if delay > MAX_WAIT_S:
                lock = f" and locks it for up to {rate.lock} when exceeded" if rate.lock else ""
                raise Throttled(
                    f"Not sent: Cliq allows about {rate.per_minute} of these a minute{lock}, and {len(sent)} "
                    "were sent in the last minute.",
                    f"Try again in {math.ceil(delay)} s.",
                    status=0,  # refused here, before Cliq saw it
                    code="paced",
                    retry_after=delay,
                )
            await self._sleep(delay)
