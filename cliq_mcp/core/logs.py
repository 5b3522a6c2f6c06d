"""Logging to stderr only (in stdio mode stdout is the protocol), with every secret redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

# Authorization headers, OAuth form fields and Cliq's "invalid oauthtoken X", whatever the value, wherever.
_PATTERNS = re.compile(
    r"((?:Zoho-)?oauthtoken\s+|Bearer\s+|(?:access_token|refresh_token|client_secret|code)[\"']?\s*[=:]\s*[\"']?)"
    r"[^\s&\"',;]+",
    re.IGNORECASE,
)
# Every match of _PATTERNS holds one of these, case-folded as IGNORECASE folds ("ı" and "İ" too, which casefold
# leaves as "ı" and "i" with a combining dot): a text without any is
# left as it is without running the pattern, which costs far more (tool results are redacted string by string).
_HINTS = ("oauthtoken", "bearer", "access_token", "refresh_token", "client_secret", "code")


# Secrets learnt while running (access tokens from a refresh): every Redactor in the process hides them too.
_LEARNT: set[str] = set()


def learn_secret(value: str) -> None:
    if len(value) >= 4:
        _LEARNT.add(value)


class Redactor(logging.Filter):
    """Hides every secret in force, and anything shaped like a credential, in log lines and tool results."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in (*self.secrets, *_LEARNT):
            if secret in text:
                text = text.replace(secret, "[redacted]")
        folded = text.casefold().replace("ı", "i").replace("\u0307", "")
        return _PATTERNS.sub(r"\1[redacted]", text) if any(h in folded for h in _HINTS) else text

    def redact_all(self, value: Any) -> Any:
        """The same for every string inside JSON-like data (structured tool results)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_all(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_all(v) for k, v in value.items()}
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; keep it quiet unless debugging.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
