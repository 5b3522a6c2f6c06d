"""Shared state for every process and replica of one Cliq account: single-use claims (redeemed
confirmation tokens, accepted answers) and pacing windows (``cliq/pacing.py``: one request budget per account).

Two implementations of one small interface:

- ``SqliteStore``, the default: a file in the user's state directory (WAL, mode 0600, directory 0700),
  shared by every process of the account on this machine (Claude Desktop's server, Claude Code's, a cron
  ``cliq-mcp call``).
- ``RedisStore``, chosen by ``CLIQ_STATE_URL=redis://…``: for HTTP replicas on several machines; every
  claim is one atomic ``SET NX PX``, each pacing step one Lua script over a sorted set.

Keys are prefixed with the account (``Settings.account``), never the process, so two processes of one account
share them and two accounts never collide.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from cliq_mcp.core.errors import ConfigurationError, StateUnavailable
from cliq_mcp.core.private_files import private_dir

T = TypeVar("T")


class StateStore(Protocol):
    description: str  # where the state lives, for messages (never a password)
    keeps_secrets: bool  # whether ``put``/``first`` of a secret keeps anything (Redis: only with the guard secret)

    async def claim(self, key: str, until: float) -> bool:
        """Record ``key`` as used until ``until`` (epoch seconds); False if it already was (and has not expired)."""
        ...

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        """One request in ``key``'s sliding window: 0 if admitted (and recorded), else seconds until a slot frees."""
        ...

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        """What ``admit`` would take now, recording nothing: free slots, and seconds until ``need`` are free."""
        ...

    async def lost_mark(self) -> str:
        """This store's mark of what it still holds: when it last noticed a loss, and the identity of what holds
        it now (the file's inode; Redis's run, which a restart changes, from a snapshot or not). A record made
        under another mark cannot be trusted to stand for what happened since (a claim made after it may be gone),
        also in a process that never saw the earlier store. Never holds "|". Noticing happens here too."""
        ...

    async def release(self, key: str) -> None:
        """Forget a claim before its time (a lease given back: a housekeeping run's lock)."""
        ...

    async def hold(self, key: str, ttl_s: float) -> bool:
        """``claim`` for ``ttl_s`` seconds from now, by the store's own clock (a short lease)."""
        ...

    async def get(self, key: str) -> tuple[str, float] | None:
        """A value ``put`` and the seconds it has left, or None (never put, expired, or not kept here)."""
        ...

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds. A ``secret`` (the access token shared by the
        account's processes) is kept only where it stays private."""
        ...

    async def first(self, key: str, value: str, ttl_s: float) -> str | None:
        """Keep the secret ``value`` under ``key`` for ``ttl_s`` seconds unless something is kept there already,
        in one atomic step: what is kept now (``value`` if this call set it; of two callers, one wins), or None
        where it cannot be kept (``keeps_secrets`` is False)."""
        ...

    async def take(self, key: str, ttl_s: float) -> str | None:
        """In one atomic step, what ``key`` holds, and ``USED`` in its place (kept ``ttl_s`` seconds): of two
        callers only one gets the value, and deleting anything afterwards brings nothing back. None if nothing
        is kept there (or it cannot be, ``keeps_secrets`` False for a secret)."""
        ...

    async def lease(self, key: str, owner: str, ttl_s: float) -> float:
        """Take or renew ``key`` for ``owner`` for ``ttl_s`` seconds: 0 if held now, else the seconds left of
        another owner's lease (which ends by itself unless renewed: a killed holder frees it soon)."""
        ...

    async def end_lease(self, key: str, owner: str) -> None:
        """Give the lease back, if ``owner`` holds it."""
        ...

    async def aclose(self) -> None: ...


class Epoch:
    """The store's identity as this process last saw it. A store that lost what it counted (Redis restarted
    empty, the state file deleted or replaced) has a new one: then every window counts as full for its own
    length from when a process that knew the old one noticed (requests of the last minute were not forgotten
    by Cliq). A process that never saw an earlier store cannot tell a new store from a lost one: it counts from
    zero, as a first start must."""

    def __init__(self) -> None:
        self.seen: str | None = None

    def lost(self, current: str) -> bool:
        lost = self.seen is not None and current != self.seen
        self.seen = current
        return lost


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class SqliteStore:
    """One SQLite file; each claim and each pacing step is one immediate transaction, so it is atomic across
    processes (and a lock serialises this process's threads on its one connection). Runs in a worker thread:
    a process waiting on another's lock does not stall the event loop. Times are ``clock``'s (the wall clock:
    the same for every process on the machine)."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        self.path = path
        self.description = f"the file {path}"
        self.keeps_secrets = True  # the file is its owner's only (0600 in a 0700 directory)
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._epoch = Epoch()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:  # an existing file others can read is narrowed: it keeps the account's access token
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            # Several processes may open a new file at once: switching it to WAL takes a lock that the busy
            # timeout does not wait for, so the set-up is tried again for a few seconds.
            for attempt in range(100):
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, until REAL NOT NULL)")
                    db.execute("CREATE TABLE IF NOT EXISTS sent (key TEXT NOT NULL, at REAL NOT NULL)")
                    db.execute("CREATE INDEX IF NOT EXISTS sent_key_at ON sent (key, at)")
                    db.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, value TEXT, until REAL)")
                    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                    for side in (f"{self.path}-wal", f"{self.path}-shm"):  # SQLite's own files hold it too
                        if os.path.exists(side) and os.stat(side).st_mode & 0o077:
                            os.chmod(side, 0o600)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        db.close()
                        raise
                    time.sleep(0.05)
            self._db, self._inode = db, _inode(self.path)
        return self._db

    def _replaced(self) -> bool:
        """The state file was deleted or replaced under this process (its connection still holds the old one)."""
        return self._db is not None and _inode(self.path) != self._inode

    def _transaction(self, step: Callable[[sqlite3.Connection, float], T]) -> T:
        with self._lock:
            if self._replaced():  # reopen the file every other process now uses: whatever it holds, it is not
                db, self._db = self._db, None  # what this process counted in (an earlier copy lacks the latest)
                assert db is not None
                db.close()
                self._epoch.seen = "(the file this process opened was replaced)"
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                done = step(db, self._clock())  # the time read inside the lock: steps are ordered by it
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return done

    def _claim(self, db: sqlite3.Connection, now: float, key: str, until: float) -> bool:
        db.execute("DELETE FROM claims WHERE until < ?", (now,))
        return db.execute("INSERT OR IGNORE INTO claims (key, until) VALUES (?, ?)", (key, until)).rowcount == 1

    def _room(
        self, db: sqlite3.Connection, now: float, key: str, limit: int, window_s: float, need: int = 1
    ) -> tuple[int, float]:
        full_for = self._lost(db, now, window_s)
        if full_for > 0:
            return 0, full_for
        db.execute("DELETE FROM sent WHERE key = ? AND at <= ?", (key, now - window_s))
        # The clock went back: what it counted "later than now" was sent now at the latest, not in an hour.
        db.execute("UPDATE sent SET at = ? WHERE key = ? AND at > ?", (now, key, now))
        (count,) = db.execute("SELECT COUNT(*) FROM sent WHERE key = ?", (key,)).fetchone()
        free = max(0, limit - count)
        leaving = min(count, max(0, min(need, limit) - free))  # the oldest that must leave first
        if not leaving:
            return free, 0.0
        (at,) = db.execute(
            "SELECT at FROM sent WHERE key = ? ORDER BY at LIMIT 1 OFFSET ?", (key, leaving - 1)
        ).fetchone()
        return free, float(min(window_s, at + window_s - now))  # bounded even if the clock went back

    def _admit(self, db: sqlite3.Connection, now: float, key: str, limit: int, window_s: float) -> float:
        free, wait = self._room(db, now, key, limit, window_s)
        if free:
            db.execute("INSERT INTO sent (key, at) VALUES (?, ?)", (key, now))
        return wait

    def _lost(self, db: sqlite3.Connection, now: float, window_s: float) -> float:
        """Seconds this window still counts as full because the store lost what it counted (see ``Epoch``)."""
        row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        current = row[0] if row else None
        if current is None:
            current = uuid.uuid4().hex
            db.execute("INSERT INTO meta (key, value) VALUES ('epoch', ?)", (current,))
        if self._epoch.lost(current):
            db.execute("INSERT INTO meta (key, value) VALUES ('lost_at', ?) ON CONFLICT (key) DO UPDATE SET value = "
                       "max(CAST(value AS REAL), CAST(excluded.value AS REAL))", (repr(now),))  # fmt: skip
        lost_at = db.execute("SELECT value FROM meta WHERE key = 'lost_at'").fetchone()
        return max(0.0, float(lost_at[0]) + window_s - now) if lost_at else 0.0

    async def _run(self, step: Callable[[sqlite3.Connection, float], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(self._transaction, step)
        except (sqlite3.Error, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None

    async def claim(self, key: str, until: float) -> bool:
        return await self._run(partial(self._claim, key=key, until=until))

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        return await self._run(partial(self._admit, key=key, limit=limit, window_s=window_s))

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        return await self._run(partial(self._room, key=key, limit=limit, window_s=window_s, need=need))

    async def lost_mark(self) -> str:
        def step(db: sqlite3.Connection, now: float) -> str:
            self._lost(db, now, 0.0)
            row = db.execute("SELECT value FROM meta WHERE key = 'lost_at'").fetchone()
            held = self._inode or (0, 0)  # the file in use: an earlier copy put back in its place is another
            return f"{row[0] if row else '0'}/{held[0]}:{held[1]}"

        return await self._run(step)

    async def release(self, key: str) -> None:
        await self._run(lambda db, now: db.execute("DELETE FROM claims WHERE key = ?", (key,)))

    async def hold(self, key: str, ttl_s: float) -> bool:
        return await self._run(lambda db, now: self._claim(db, now, key, now + ttl_s))

    async def get(self, key: str) -> tuple[str, float] | None:
        def step(db: sqlite3.Connection, now: float) -> tuple[str, float] | None:
            row = db.execute("SELECT value, until FROM kept WHERE key = ? AND until > ?", (key, now)).fetchone()
            return (str(row[0]), float(row[1]) - now) if row else None

        return await self._run(step)

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        # The file is its owner's only (0600 in a 0700 directory): the value is kept as it is.
        if not 0 < ttl_s < 10 * 365 * 86400:
            return
        await self._run(lambda db, now: db.execute("INSERT OR REPLACE INTO kept (key, value, until) VALUES (?, ?, ?)",
                                                   (key, value, now + ttl_s)))  # fmt: skip

    async def first(self, key: str, value: str, ttl_s: float) -> str | None:
        if not 0 < ttl_s < 10 * 365 * 86400:
            return None

        def step(db: sqlite3.Connection, now: float) -> str:
            db.execute("DELETE FROM kept WHERE key = ? AND until <= ?", (key, now))
            db.execute("INSERT OR IGNORE INTO kept (key, value, until) VALUES (?, ?, ?)", (key, value, now + ttl_s))
            return str(db.execute("SELECT value FROM kept WHERE key = ?", (key,)).fetchone()[0])

        return await self._run(step)

    async def take(self, key: str, ttl_s: float) -> str | None:
        def step(db: sqlite3.Connection, now: float) -> str | None:
            row = db.execute("SELECT value FROM kept WHERE key = ? AND until > ?", (key, now)).fetchone()
            db.execute("INSERT OR REPLACE INTO kept (key, value, until) VALUES (?, ?, ?)", (key, USED, now + ttl_s))
            return str(row[0]) if row else None

        return await self._run(step)

    async def lease(self, key: str, owner: str, ttl_s: float) -> float:
        def step(db: sqlite3.Connection, now: float) -> float:
            row = db.execute("SELECT value, until FROM kept WHERE key = ? AND until > ?", (key, now)).fetchone()
            if row is not None and row[0] != owner:
                return max(float(row[1]) - now, 0.001)
            db.execute("INSERT OR REPLACE INTO kept (key, value, until) VALUES (?, ?, ?)", (key, owner, now + ttl_s))
            return 0.0

        return await self._run(step)

    async def end_lease(self, key: str, owner: str) -> None:
        await self._run(lambda db, now: db.execute("DELETE FROM kept WHERE key = ? AND value = ?", (key, owner)))

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()


# One pacing step, atomically: drop what left the window, count, record or say how long until a slot frees.
# Times are Redis's own (TIME, in microseconds): replicas on several machines share one clock.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
end
-- A restart is a loss even when a snapshot brought the keys back: what came after the snapshot is gone.
epoch = epoch .. ':' .. (string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or '')
if ARGV[4] ~= '' and ARGV[4] ~= epoch then
  local before = tonumber(redis.call('GET', KEYS[3]) or '0')
  redis.call('SET', KEYS[3], string.format('%.0f', math.max(before, now)))
end
local lost_at = tonumber(redis.call('GET', KEYS[3]) or '0')
if ARGV[6] == 'mark' then
  return {0, epoch, 0, string.format('%.0f', lost_at)}
end
if lost_at > 0 and now < lost_at + window then
  return {lost_at + window - now, epoch, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local free = math.max(0, tonumber(ARGV[1]) - count)
if free > 0 and ARGV[6] == 'admit' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {0, epoch, free - 1}
end
local leaving = math.min(count, math.max(0, math.min(tonumber(ARGV[7]), tonumber(ARGV[1])) - free))
if leaving == 0 then
  return {0, epoch, free}
end
local oldest = redis.call('ZRANGE', KEYS[1], leaving - 1, leaving - 1, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + window - now), epoch, free}
"""


# A lease, atomically: taken when free, renewed by its owner; else the milliseconds another owner has left.
LEASE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then
  return math.max(1, redis.call('PTTL', KEYS[1]))
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
"""
END_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore:
    """Redis (redis-py's asyncio client, ``pip install redis``): a claim is ``SET key 1 NX PX lifetime``; a
    pacing step is the ``ADMIT`` script over one sorted set per window, on Redis's clock."""

    def __init__(self, url: str, *, clock: Any = time.time, key: bytes | None = None) -> None:
        """``key`` (the guard secret every replica shares) seals what ``put`` keeps: Redis is reached over the
        network, and a token in it must be of no use to whoever reads it. Without a key nothing is kept."""
        self._key = hashlib.sha256(b"cliq-mcp kept|" + key).digest() if key else None
        self.keeps_secrets = self._key is not None
        try:
            from redis.asyncio import Redis
            from redis.exceptions import RedisError
        except ImportError:
            raise ConfigurationError(
                "CLIQ_STATE_URL names Redis, but the redis package is not installed.",
                "Install it (pip install 'cliq-mcp[redis]') or use the default SQLite store.",
            ) from None
        parts = urlsplit(url)
        self.description = f"Redis at {parts.hostname}:{parts.port or 6379}"
        self._url = url
        self._make = Redis.from_url
        self._errors = RedisError
        self._redis: Any = None  # connected on first use, again after aclose (each MCP session's end)
        self._clock = clock
        self._epoch = Epoch()  # the script notices a lost store: it compares what this process saw

    async def _connection(self) -> Any:
        """The connection; on first use, a Redis that may evict keys is refused: an evicted claim would let a used
        yes act again, an evicted window admit more than Cliq allows (``maxmemory-policy noeviction``, or no
        ``maxmemory`` at all, keeps every key until its time)."""
        if self._redis is None:
            redis = self._make(self._url)
            memory = await redis.info("memory")
            policy = str(memory.get("maxmemory_policy", "noeviction"))
            if int(memory.get("maxmemory", 0) or 0) and policy != "noeviction":
                await redis.aclose()
                raise ConfigurationError(
                    f"{self.description} may evict keys (maxmemory-policy {policy}): a used confirmation or the "
                    "account's request budget could be forgotten. Nothing was sent.",
                    "Set maxmemory-policy noeviction on that Redis (or use one without maxmemory).",
                )
            self._redis = redis
        return self._redis

    async def claim(self, key: str, until: float) -> bool:
        # A lifetime relative to our clock, not an absolute time: Redis's clock need not agree with ours.
        lifetime_ms = int((until - self._clock()) * 1000)
        if lifetime_ms <= 0:
            return False
        try:
            return bool(await (await self._connection()).set(f"cliq-mcp:{key}", b"1", nx=True, px=lifetime_ms))
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None

    async def _window(self, key: str, limit: int, window_s: float, what: str, need: int = 1) -> tuple[float, int, str]:
        window_us = int(window_s * 1_000_000)
        # EVAL (not EVALSHA): the script is small, and a restarted Redis has no script cache to miss.
        keys = (f"cliq-mcp:{key}", "cliq-mcp:epoch", "cliq-mcp:lost-at")
        try:
            wait_us, epoch, free, *mark = await (await self._connection()).eval(
                ADMIT,
                3,
                *keys,
                limit,
                window_us,
                uuid.uuid4().hex,
                self._epoch.seen or "",
                uuid.uuid4().hex,
                what,
                need,
            )
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None
        self._epoch.seen = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        lost = mark[0].decode() if mark and isinstance(mark[0], bytes) else str(mark[0]) if mark else "0"
        return int(wait_us) / 1_000_000, int(free), lost

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        return (await self._window(key, limit, window_s, "admit"))[0]

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        wait, free, _ = await self._window(key, limit, window_s, "room", need)
        return free, wait

    async def lost_mark(self) -> str:
        lost = (await self._window("epoch-check", 1, 1.0, "mark"))[2]
        return f"{lost}/{self._epoch.seen}"  # the epoch holds Redis's run_id: a restart is a new mark

    async def release(self, key: str) -> None:
        try:
            await (await self._connection()).delete(f"cliq-mcp:{key}")
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None

    async def hold(self, key: str, ttl_s: float) -> bool:
        return await self.claim(key, self._clock() + ttl_s)

    async def get(self, key: str) -> tuple[str, float] | None:
        name = f"cliq-mcp:kept:{key}"
        try:
            redis = await self._connection()
            stored, left_ms = await redis.get(name), await redis.pttl(name)
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None
        if stored is None or left_ms <= 0:
            return None
        if self._key is not None:  # with a key, only what a store with that key sealed, under this very name:
            value = None if stored.startswith(PLAIN) else unseal_value(self._key, stored, name)  # nothing forged
        else:
            value = stored[len(PLAIN) :].decode() if stored.startswith(PLAIN) else None
        return (value, left_ms / 1000) if value is not None else None

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        if (secret and self._key is None) or not 0 < ttl_s < 10 * 365 * 86400:
            return  # a secret without a key to seal it is not kept
        name = f"cliq-mcp:kept:{key}"
        # With a key everything is sealed, secret or not: whoever reaches Redis without the key can neither read
        # a secret nor write anything this server would believe (a yes, a page's answer, a plan).
        stored = seal_value(self._key, value, name) if self._key else PLAIN + value.encode()
        try:
            await (await self._connection()).set(name, stored, px=int(ttl_s * 1000))
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None

    async def first(self, key: str, value: str, ttl_s: float) -> str | None:
        if self._key is None or not 0 < ttl_s < 10 * 365 * 86400:
            return None
        name = f"cliq-mcp:kept:{key}"
        try:
            redis = await self._connection()
            for _ in range(3):  # what another caller kept may expire between the two steps: then try again
                if await redis.set(name, seal_value(self._key, value, name), nx=True, px=int(ttl_s * 1000)):
                    return value
                stored = await redis.get(name)
                if stored is not None:
                    return unseal_value(self._key, stored, name)
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None
        return None

    async def take(self, key: str, ttl_s: float) -> str | None:
        name = f"cliq-mcp:kept:{key}"
        stored = seal_value(self._key, USED, name) if self._key else PLAIN + USED.encode()
        try:  # SET ... GET: the old value and the new in one step (Redis 6.2 and later)
            old = await (await self._connection()).set(name, stored, px=max(1, int(ttl_s * 1000)), get=True)
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None
        if old is None:
            return None
        if self._key is not None:
            return None if old.startswith(PLAIN) else unseal_value(self._key, old, name)
        return old[len(PLAIN) :].decode() if old.startswith(PLAIN) else None

    async def lease(self, key: str, owner: str, ttl_s: float) -> float:
        try:
            left_ms = await (await self._connection()).eval(LEASE, 1, f"cliq-mcp:lease:{key}", owner, int(ttl_s * 1000))
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None
        return int(left_ms) / 1000

    async def end_lease(self, key: str, owner: str) -> None:
        try:
            await (await self._connection()).eval(END_LEASE, 1, f"cliq-mcp:lease:{key}", owner)
        except (self._errors, OSError) as exc:
            raise unavailable(self.description, type(exc).__name__) from None

    async def aclose(self) -> None:
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()


class MemoryStore:
    """This process's memory, where no shared store is configured (no state directory): what it keeps lasts as
    long as the process, and no other process shares it."""

    description = "this process's memory"
    keeps_secrets = True

    def __init__(self, *, clock: Any = time.time) -> None:
        self._clock = clock
        self._claims: dict[str, float] = {}
        self._kept: dict[str, tuple[str, float]] = {}
        self._sent: dict[str, list[float]] = {}

    async def claim(self, key: str, until: float) -> bool:
        now = self._clock()
        if self._claims.get(key, now - 1) >= now:
            return False
        self._claims = {k: u for k, u in self._claims.items() if u >= now}
        self._claims[key] = until
        return True

    async def room(self, key: str, limit: int, window_s: float, need: int = 1) -> tuple[int, float]:
        now = self._clock()
        sent = self._sent[key] = [at for at in self._sent.get(key, []) if now - window_s < at <= now]
        free = max(0, limit - len(sent))
        leaving = min(len(sent), max(0, min(need, limit) - free))
        return free, (sent[leaving - 1] + window_s - now if leaving else 0.0)

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        free, wait = await self.room(key, limit, window_s)
        if free:
            self._sent[key].append(self._clock())
        return wait

    async def lost_mark(self) -> str:
        return "0"  # it is lost with the process, and so is everything that relied on it

    async def release(self, key: str) -> None:
        self._claims.pop(key, None)

    async def hold(self, key: str, ttl_s: float) -> bool:
        return await self.claim(key, self._clock() + ttl_s)

    async def get(self, key: str) -> tuple[str, float] | None:
        value, until = self._kept.get(key, ("", 0.0))
        left = until - self._clock()
        return (value, left) if left > 0 else None

    async def put(self, key: str, value: str, ttl_s: float, *, secret: bool = True) -> None:
        if 0 < ttl_s < 10 * 365 * 86400:
            now = self._clock()
            self._kept = {k: kept for k, kept in self._kept.items() if kept[1] > now}
            self._kept[key] = (value, now + ttl_s)

    async def first(self, key: str, value: str, ttl_s: float) -> str | None:
        kept = await self.get(key)
        if kept is not None:
            return kept[0]
        await self.put(key, value, ttl_s)
        return value if 0 < ttl_s < 10 * 365 * 86400 else None

    async def take(self, key: str, ttl_s: float) -> str | None:
        kept = await self.get(key)
        await self.put(key, USED, ttl_s)
        return kept[0] if kept else None

    async def lease(self, key: str, owner: str, ttl_s: float) -> float:
        held = await self.get(f"lease:{key}")
        if held is not None and held[0] != owner:
            return max(held[1], 0.001)
        await self.put(f"lease:{key}", owner, ttl_s)
        return 0.0

    async def end_lease(self, key: str, owner: str) -> None:
        held = await self.get(f"lease:{key}")
        if held is not None and held[0] == owner:
            del self._kept[f"lease:{key}"]

    async def aclose(self) -> None:
        return None


USED = "used"  # what ``take`` leaves: a record that stands for nothing any more
PLAIN = b"plain:"  # a value that is no secret (a throttle remembered), kept as it is


def seal_value(key: bytes, value: str, name: str) -> bytes:
    """``value`` encrypted and authenticated with ``key`` (AES-GCM, a fresh nonce each time), bound to the
    ``name`` it is kept under (copied under another name, it does not open)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, value.encode(), name.encode())


def unseal_value(key: bytes, sealed: bytes, name: str) -> str | None:
    """What ``seal_value`` sealed with ``key`` under ``name``; None for anything else."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], name.encode()).decode()
    except (InvalidTag, ValueError):
        return None


def unavailable(where: str, what: str) -> StateUnavailable:
    return StateUnavailable(
        f"The shared state store ({where}) could not be used ({what}), so nothing was sent: without it the rate "
        "budget and used confirmations of this account cannot be kept.",
        "Check CLIQ_STATE_URL (and that Redis is up), then try again.",
    )


def open_store(url: str, *, clock: Any = time.time, key: bytes | None = None) -> StateStore:
    """``sqlite:///absolute/path``, a plain path, or ``redis://host:port/db`` (``key``: the shared guard
    secret, which seals what Redis keeps)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, clock=clock, key=key)
    path = unquote(urlsplit(url).path) if url.startswith("sqlite://") else url
    if not path:
        raise ConfigurationError(f"CLIQ_STATE_URL {url!r} names no file.", "Use sqlite:///path/to/state.db.")
    return SqliteStore(Path(path).expanduser(), clock=clock)
