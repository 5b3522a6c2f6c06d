"""Shared state for every process and replica of one Cliq account: single-use claims (redeemed
confirmation tokens, accepted answers) today, pacing windows next.

Two implementations of one small interface:

- ``SqliteStore``, the default: a file in the user's state directory (WAL, mode 0600, directory 0700),
  shared by every process of the account on this machine (Claude Desktop's server, Claude Code's, a cron
  ``cliq-mcp call``).
- ``RedisStore``, chosen by ``CLIQ_STATE_URL=redis://…``: for HTTP replicas on several machines; every
  claim is one atomic ``SET NX PX``.

Keys are prefixed with the account (``Settings.account``), never the process, so two processes of one account
share them and two accounts never collide.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from cliq_mcp.errors import ConfigurationError
from cliq_mcp.private_files import private_dir


class StateStore(Protocol):
    description: str  # where the state lives, for messages (never a password)

    async def claim(self, key: str, until: float) -> bool:
        """Record ``key`` as used until ``until`` (epoch seconds); False if it already was (and has not expired)."""
        ...

    async def aclose(self) -> None: ...


class SqliteStore:
    """One SQLite file; each claim is one ``INSERT`` in an immediate transaction, so it is atomic across
    processes. Runs in a worker thread: a process waiting on another's lock does not stall the event loop."""

    def __init__(self, path: Path, *, clock: Any = time.time) -> None:
        self.path = path
        self.description = f"the file {path}"
        self._clock = clock
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
            db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, until REAL NOT NULL)")
            self._db = db
        return self._db

    def _claim(self, key: str, until: float) -> bool:
        db = self._connect()
        now = self._clock()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM claims WHERE until < ?", (now,))
            taken = db.execute("INSERT OR IGNORE INTO claims (key, until) VALUES (?, ?)", (key, until)).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return taken == 1

    async def claim(self, key: str, until: float) -> bool:
        return await anyio.to_thread.run_sync(self._claim, key, until)

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()


class RedisStore:
    """Redis (redis-py's asyncio client, ``pip install redis``): a claim is ``SET key 1 NX PX lifetime``."""

    def __init__(self, url: str, *, clock: Any = time.time) -> None:
        try:
            from redis.asyncio import Redis
        except ImportError:
            raise ConfigurationError(
                "CLIQ_STATE_URL names Redis, but the redis package is not installed.",
                "Install it (pip install 'cliq-mcp[redis]') or use the default SQLite store.",
            ) from None
        parts = urlsplit(url)
        self.description = f"Redis at {parts.hostname}:{parts.port or 6379}"
        self._url = url
        self._make = Redis.from_url
        self._redis: Any = None  # connected on first use, again after aclose (each MCP session's end)
        self._clock = clock

    async def claim(self, key: str, until: float) -> bool:
        # A lifetime relative to our clock, not an absolute time: Redis's clock need not agree with ours.
        lifetime_ms = int((until - self._clock()) * 1000)
        if lifetime_ms <= 0:
            return False
        if self._redis is None:
            self._redis = self._make(self._url)
        return bool(await self._redis.set(f"cliq-mcp:{key}", b"1", nx=True, px=lifetime_ms))

    async def aclose(self) -> None:
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()


def open_store(url: str, *, clock: Any = time.time) -> StateStore:
    """``sqlite:///absolute/path``, a plain path, or ``redis://host:port/db``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, clock=clock)
    path = unquote(urlsplit(url).path) if url.startswith("sqlite://") else url
    if not path:
        raise ConfigurationError(f"CLIQ_STATE_URL {url!r} names no file.", "Use sqlite:///path/to/state.db.")
    return SqliteStore(Path(path).expanduser(), clock=clock)
