"""The audit log: one JSON line per write attempt."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cliq_mcp.private_files import open_private_append

logger = logging.getLogger(__name__)


class Audit:
    """One JSON line per write attempt, appended to a file. It never holds a secret: arguments are tool
    arguments (the confirmation token is left out), and errors are our own messages."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path).expanduser() if path else None
        self._warned = False

    def writable(self) -> bool:
        """Whether a line can be appended now (an unattended act is audited or not done)."""
        if self.path is None:
            return False
        try:
            with open_private_append(self.path):
                return True
        except OSError:
            return False

    def record(self, **fields: Any) -> None:
        if self.path is None:
            return
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **fields}
        try:
            # Owner-only (0600 in a 0700 directory): it holds chat names, people's names and emails.
            with open_private_append(self.path) as out:
                out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
        except OSError as exc:
            if not self._warned:  # say it once; a broken audit log must not stop the tools
                logger.error("Cannot write the audit log %s: %s", self.path, exc.strerror)
                self._warned = True
