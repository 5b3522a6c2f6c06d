"""Other people's text made safe to show, and Cliq's times read: the one filter every room uses.

Names, titles and message texts are written by other people. ``visible`` drops what shows nothing (control,
format, private-use and unassigned characters, and the default-ignorable ones); ``clean`` also makes it one
line and bounds it; ``quoted`` shows it inside quotes, so it reads as data.
"""

import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

# Characters that show nothing (default-ignorable), beyond the categories dropped below: the combining
# grapheme joiner, Hangul fillers, Mongolian and variation selectors, tags.
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U0001bca0-\U0001bca3\U000e0000-\U000e0fff]"
)
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})


def visible(text: str) -> str:
    """``text`` without the characters that show nothing (whitespace kept, as spaces)."""
    if text.isprintable() and not _IGNORABLE.search(text):  # the common case is already clean
        return text
    text = _IGNORABLE.sub("", text)
    return "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _HIDDEN
    )


NAME_LIMIT = 80
ID_LIMIT = 64
MESSAGE_LIMIT = 200
KIND_LIMIT = 32
REASON_LIMIT = 160
EMAIL_LIMIT = 120
TITLE_LIMIT = 255
TOKEN_LIMIT = 4000  # as long as the next_token a tool takes back (a cursor cut short is no cursor)
TIME_LIMIT = 64  # longer than any ISO 8601 time: not worth parsing
LISTED = 500  # chats or members shown from one answer: the largest page Cliq serves (search's limit)


def clean(value: Any, limit: int) -> str:
    """Other people's text made safe to show: nothing invisible, one line, bounded."""
    text = str(value if value is not None else "")
    # Only the start can be shown: a megabyte is not walked for the first ``limit`` characters. The slack
    # leaves room for characters the cleaning drops.
    text = " ".join(visible(text[: limit * 8 + 64]).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: Any, limit: int = NAME_LIMIT) -> str:
    return json.dumps(clean(value, limit), ensure_ascii=False)


def _q(value: str | None) -> str:
    """An already cleaned and bounded value, in quotes."""
    return json.dumps(value or "", ensure_ascii=False)


def parse_time(value: Any) -> datetime | None:
    """Cliq's ISO 8601 times (with Z or an offset; none means UTC); None when unparsable."""
    if not isinstance(value, str) or len(value) > TIME_LIMIT:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)  # also proves it is representable in UTC
    except (ValueError, OverflowError):
        return None


def utc_iso(value: Any) -> str | None:
    """ISO 8601 -> '2025-06-15T05:00:00Z' (UTC); anything unparsable is dropped."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ") if parsed else None


def moment(value: Any) -> str | None:
    """ISO 8601 -> '2025-04-10 14:30Z'; anything unparsable is dropped."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%MZ") if parsed else None
