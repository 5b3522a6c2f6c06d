"""The audit log: one JSON line per write attempt, and before every destructive act (and every act of a
housekeeping run) a line saying it is about to be sent, written whole and on disk first: an act that cannot
be put on record is not done."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cliq_mcp.core.errors import NotConfirmed
from cliq_mcp.core.logs import Redactor
from cliq_mcp.core.private_files import open_private_fd

logger = logging.getLogger(__name__)


class Audit:
    """One JSON line per write attempt, appended to a file with one write (a reader never sees two lines
    interleaved; a torn last line is skipped by the reader). It never holds a secret: arguments are tool
    arguments (the confirmation token is left out), and every string is redacted, whole, before anything is
    cut (the same redactor as tool results)."""

    def __init__(self, path: str | None, redactor: Redactor | None = None, *, sandbox: bool = False) -> None:
        self.path = Path(path).expanduser() if path else None
        self._redactor = redactor or Redactor()
        self._warned = False
        self._marks = {"sandbox": True} if sandbox else {}  # acts on the simulated workspace, not on Cliq

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def _line(self, fields: dict[str, Any]) -> bytes:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields, **self._marks}
        return (json.dumps(self._redactor.redact_all(line), ensure_ascii=False, sort_keys=True) + "\n").encode()

    def _append(self, data: bytes, *, durable: bool) -> None:
        """``data`` appended in one write (and, ``durable``, on disk before returning); ``OSError`` if not."""
        assert self.path is not None
        # Owner-only (0600 in a 0700 directory): it holds chat names, people's names and emails.
        fd = open_private_fd(self.path)
        try:
            if os.write(fd, data) != len(data):
                raise OSError("the audit line was not written whole")
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def writable(self) -> bool:
        """Whether a line can be put on record now: a regular file of ours, open for appending, that takes an
        fsync (asked before a person is, and before a housekeeping run plans any act)."""
        if self.path is None:
            return False
        try:
            fd = open_private_fd(self.path)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return True
        except OSError:
            return False

    def record(self, **fields: Any) -> None:
        """A line after the fact; a log that cannot be written is said once and does not stop the tools."""
        if self.path is None:
            return
        try:
            self._append(self._line(fields), durable=False)
        except OSError as exc:
            if not self._warned:
                logger.error("Cannot write the audit log %s: %s", self.path, exc.strerror or exc)
                self._warned = True

    def intent(self, **fields: Any) -> None:
        """Before an act: its line (outcome "sending"), whole and on disk, or ``NotConfirmed`` and nothing is sent."""
        where = str(self.path) if self.path else "(off: CLIQ_AUDIT_LOG=off)"
        if self.path is not None:
            try:
                self._append(self._line({**fields, "outcome": "sending"}), durable=True)
                return
            except OSError as exc:
                logger.error("Cannot write the audit log %s: %s", self.path, exc.strerror or exc)
        raise NotConfirmed(
            f"Not done: the audit log {where} cannot be written, and an act is put on record before it is sent or "
            "not done at all. Nothing was sent.",
            "Fix CLIQ_AUDIT_LOG (a writable file, on a disk with room), then call again.",
        )
