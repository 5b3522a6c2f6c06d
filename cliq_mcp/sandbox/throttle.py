"""Per-operation throttling: the documented requests-per-minute threshold, then a lock."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Limit:
    per_minute: int
    # None: no lock is documented, so only the sliding minute refuses (assumption).
    lock_seconds: float | None


# From the notes' operations table. Rows marked assumption are not documented.
LIMITS: dict[str, Limit] = {
    "list_chats": Limit(30, 600),
    "create_chat": Limit(30, None),
    "read_status_update": Limit(60, 300),
    "clear_unread": Limit(60, 300),
    "search_chats": Limit(50, 600),
    "get_chat": Limit(60, 300),
    "update_title": Limit(60, 600),
    "update_history_status": Limit(60, 600),
    "mark_as_read": Limit(60, None),
    "mark_as_unread": Limit(60, None),
    "clear_local_history": Limit(60, None),
    "close_chat": Limit(60, None),
    "add_members": Limit(20, 600),
    "remove_members": Limit(20, 600),
    "fork_chat": Limit(50, 10),
    "send_activity": Limit(100, 3000),
    # The notes' newer facts: members, leave, mute and unmute "each 20 / min, 10 min lock".
    "list_members": Limit(20, 600),
    "leave_chat": Limit(20, 600),
    "mute_chat": Limit(20, 600),
    "unmute_chat": Limit(20, 600),
    "list_users": Limit(30, None),  # assumption: the notes give no threshold for the v2 Users API
}


class Throttle:
    """Sliding one-minute windows per operation (the sandbox has a single user, so per user too).

    assumption: every authenticated, authorised request counts, even one that then fails validation;
    refused requests do not count, and a lock is not extended by retries during it.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def admit(self, operation: str) -> bool:
        limit = LIMITS[operation]
        now = self.clock()
        if self._locked_until.get(operation, float("-inf")) > now:
            return False
        seen = self._seen.setdefault(operation, deque())
        while seen and seen[0] <= now - WINDOW_SECONDS:
            seen.popleft()
        if len(seen) >= limit.per_minute:
            if limit.lock_seconds is not None:
                self._locked_until[operation] = now + limit.lock_seconds
                seen.clear()
            return False
        seen.append(now)
        return True

    def locked_until(self, operation: str) -> float | None:
        until = self._locked_until.get(operation)
        return until if until is not None and until > self.clock() else None
