"""A housekeeping policy: the TOML file that says what an unattended ``cliq-mcp tidy`` run may do.

    [limits]                       # optional
    max_acts = 50                  # most acts in one run, every action together (default 50)
    max_wait_minutes = 30          # longest a run waits for Cliq's rate limits, in all (default 30)

    [exclude]                      # never touched, whatever an action says
    pinned = true                  # default true: pinned chats are left alone
    muted = false                  # default false
    names = ["leadership*"]        # glob patterns on the chat's name, case-insensitive
    chat_ids = ["2890538000000012345"]

    [close]                        # one table per action: close, leave, mark_read, clear_unread
    chat_types = ["group_chat", "direct_message"]
    inactive_days = 90             # no activity for more than this many days
    unread = true                  # only chats with (true) or without (false) unread messages
    names = ["proj-*"]             # only chats whose name matches one of these
    min_members = 2
    max_members = 10
    max_acts = 50                  # most acts of this action in one run

An action happens only if the file names it; close and leave (destructive) need inactive_days or names.
A chat gets the first action, in the order leave, close, mark_read, clear_unread, whose conditions it
meets. Unknown keys, wrong types and contradictions are refused with the line and the reason.

This module is pure: it reads text and judges chats from ``Facts``; the walk is in housekeeping/plan.py.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from cliq_mcp.core.errors import InvalidArguments
from cliq_mcp.core.text import visible

Action = Literal["leave", "close", "mark_read", "clear_unread"]
ACTIONS: tuple[Action, ...] = ("leave", "close", "mark_read", "clear_unread")  # a chat gets the first that applies
TOOLS: dict[Action, str] = {
    "leave": "leave_chat",
    "close": "close_chat",
    "mark_read": "mark_chat_read",
    "clear_unread": "clear_unread_counts",
}
DESTRUCTIVE: frozenset[Action] = frozenset({"leave", "close"})
CHAT_TYPES = ("direct_message", "group_chat", "channel", "bot", "thread")
# Cliq refuses leaving a direct chat; a bot chat is one person and a bot (as operations.NOT_DIRECT).
CANNOT: dict[Action, frozenset[str]] = {"leave": frozenset({"direct_message", "bot"})}
# Why a chat is kept out when [exclude] muted = true and Cliq's muted list could not be read whole.
UNSAID_MUTED = "Cliq did not say whether it is muted"
MAX_TEXT = 64_000  # a policy is a page of TOML, not a data file
ChatTypeName = Literal["direct_message", "group_chat", "channel", "bot", "thread"]


class PolicyError(InvalidArguments):
    """A policy file that cannot be used: the message names the file, the line and the reason."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built when a policy is read


class Limits(_Table):
    max_acts: StrictInt = Field(50, ge=1, le=1000)
    max_wait_minutes: StrictInt = Field(30, ge=0, le=240)


def _pattern(value: str) -> str:
    if not normal(value):
        raise ValueError("holds an empty pattern")
    return value


def _chat_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise ValueError('holds an entry that is not a chat id (digits, like "2890538000000012345", no spaces)')
    return value


Patterns = list[Annotated[str, Field(max_length=300), AfterValidator(_pattern)]]
ChatIds = list[Annotated[str, AfterValidator(_chat_id)]]


class Exclude(_Table):
    pinned: StrictBool = True
    muted: StrictBool = False
    names: Patterns = Field(default_factory=list, max_length=200)
    chat_ids: ChatIds = Field(default_factory=list, max_length=5000)


class Rule(_Table):
    chat_types: list[ChatTypeName] | None = Field(None, min_length=1)
    inactive_days: StrictInt | None = Field(None, ge=1, le=3650)
    unread: StrictBool | None = None
    names: Patterns | None = Field(None, min_length=1, max_length=200)
    min_members: StrictInt | None = Field(None, ge=0, le=100_000)
    max_members: StrictInt | None = Field(None, ge=0, le=100_000)
    max_acts: StrictInt | None = Field(None, ge=1, le=1000)

    def conditions(self) -> list[str]:
        keys = ("chat_types", "inactive_days", "unread", "names", "min_members", "max_members")
        return [k for k in keys if getattr(self, k) is not None]


class _File(_Table):
    version: StrictInt = Field(1, ge=1, le=1)
    limits: Limits = Field(default_factory=lambda: Limits.model_validate({}))
    exclude: Exclude = Field(default_factory=lambda: Exclude.model_validate({}))
    leave: Rule | None = None
    close: Rule | None = None
    mark_read: Rule | None = None
    clear_unread: Rule | None = None


@dataclass(frozen=True)
class Facts:
    """What the policy looks at in one chat, from Cliq's chat object (None: Cliq did not say)."""

    chat_id: str
    name: str | None
    chat_type: str | None
    members: int | None
    last_active: datetime | None
    pinned: bool | None
    muted: bool | None
    unread: int | None = None
    last_message_id: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A chat's judgement: the action due (None: left alone), and why, in a few words."""

    action: Action | None
    reason: str
    needs: str = ""  # what Cliq did not tell that the verdict needs (read the chat alone, then judge again)


@dataclass(frozen=True)
class Policy:
    name: str  # the file's name, as shown in reports and the audit log
    sha256: str  # of the file's bytes: which version of the policy acted
    limits: Limits
    exclude: Exclude
    rules: dict[Action, Rule] = field(default_factory=dict)  # in ACTIONS order, only those the file names

    @property
    def label(self) -> str:
        """How reports and the audit log name it: "policy nightly.toml sha256:…" (a file) or "policy sha256:…"."""
        return " ".join(part for part in ("policy", self.name, f"sha256:{self.sha256[:16]}") if part)

    def judge(self, chat: Facts, now: datetime) -> Verdict:
        """The first action whose conditions the chat meets, or why none applies."""
        if self.exclude.names and chat.name is None:
            return _untold("name")  # an exclusion by name cannot be judged without it
        if self.exclude.pinned and chat.pinned is None:
            return _untold("pinned state (pinned)")
        excluded = self._excluded(chat)
        if excluded:
            return Verdict(None, f"excluded: {excluded}")
        misses: list[str] = []
        for action, rule in self.rules.items():
            miss = _miss(action, rule, chat, now)
            if miss is None:
                return Verdict(action, _why(action, rule, chat, now))
            if isinstance(miss, Untold):
                return _untold(miss.field)
            misses.append(f"{action}: {miss}")
        return Verdict(None, "; ".join(misses) or "no action")

    def _excluded(self, chat: Facts) -> str:
        ex = self.exclude
        if chat.chat_id in ex.chat_ids:
            return "its id is listed"
        for pattern in ex.names:
            if chat.name is not None and matches(chat.name, pattern, widen=True):
                return f"name matches {pattern!r}"
        if ex.pinned and chat.pinned is not False:
            return "pinned" if chat.pinned else "Cliq did not say whether it is pinned"
        if ex.muted and chat.muted is not False:
            return "muted" if chat.muted else UNSAID_MUTED
        return ""


@dataclass(frozen=True)
class Untold:
    """A condition that cannot be judged: Cliq did not tell ``field`` (the chat is read alone, then judged again)."""

    field: str


def _untold(field: str) -> Verdict:
    return Verdict(None, f"Cliq did not tell its {field}", needs=field)


NAME_LIMIT = 1000  # 4x the longest chat name Cliq allows (255): a real name is matched whole


def normal(text: str, *, compatible: bool = True, hash_optional: bool = True) -> str:
    """A name (or pattern) as a person reads it: invisible and control characters dropped, runs of spaces as
    one, case folded; with ``compatible``, compatibility forms folded (fullwidth letters); with
    ``hash_optional``, a leading "#" (as channels are written) dropped. Names and patterns both pass through
    it, so a name copied from Cliq matches, and an invisible character cannot slip a name past."""
    text = text[:NAME_LIMIT]
    if compatible:
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(visible(text).split()).casefold()
    return text.removeprefix("#").lstrip() if hash_optional else text


def matches(name: str, pattern: str, *, widen: bool) -> bool:
    """The name is the pattern as written, or matches it as a glob (* ? [abc]). ``widen`` (exclusions: keeping
    out more is the safe side): fullwidth forms fold into their ASCII ones, wildcards too, and a leading "#"
    is optional. Otherwise (an action's names: selecting more is not safe) the glob's wildcards are those the
    person typed and "#" counts; only a name equal to the pattern as a person reads it matches without."""
    if widen:
        name, pattern = normal(name), normal(pattern)
        return name == pattern or fnmatchcase(name, pattern)
    if normal(name, hash_optional=False) == normal(pattern, hash_optional=False):
        return True
    return fnmatchcase(normal(name, hash_optional=False), normal(pattern, compatible=False, hash_optional=False))


def _miss(action: Action, rule: Rule, chat: Facts, now: datetime) -> str | Untold | None:
    """The first condition of ``rule`` the chat does not meet (None: it meets them all; ``Untold``: a condition
    needs what Cliq did not tell)."""
    if chat.chat_type is None and (action in CANNOT or rule.chat_types is not None):
        return Untold("chat type (chat_type)")
    if action in CANNOT and chat.chat_type in CANNOT[action]:
        return f"Cliq cannot {action} a {chat.chat_type}"
    if rule.chat_types is not None and chat.chat_type not in rule.chat_types:
        return f"a {chat.chat_type}"
    if rule.names is not None:
        if chat.name is None:
            return Untold("name")
        if not any(matches(chat.name, p, widen=False) for p in rule.names):
            return "name does not match"
    if rule.min_members is not None or rule.max_members is not None:
        if chat.members is None:
            return Untold("number of members (participant_count)")
        if rule.min_members is not None and chat.members < rule.min_members:
            return f"{chat.members} members"
        if rule.max_members is not None and chat.members > rule.max_members:
            return f"{chat.members} members"
    if rule.inactive_days is not None:
        if chat.last_active is None:
            return Untold("time of last activity (last_modified_time)")
        if now - chat.last_active <= timedelta(days=rule.inactive_days):
            return f"active {_days(now - chat.last_active)} ago"
    marking = action in ("mark_read", "clear_unread")
    wants_unread = rule.unread if rule.unread is not None else (True if marking else None)
    if wants_unread is not None:
        if chat.unread is None:
            return Untold("unread count (unread_message_count)")
        if (chat.unread > 0) != wants_unread:
            return "no unread messages" if wants_unread else f"{chat.unread} unread"
    if action == "mark_read" and chat.last_message_id is None and (chat.unread is None or chat.unread > 0):
        return Untold("last message id (mark_read needs it; clear_unread does not)")
    return None


def _why(action: Action, rule: Rule, chat: Facts, now: datetime) -> str:
    parts = [chat.chat_type or "chat"]
    if rule.inactive_days is not None and chat.last_active is not None:
        parts.append(f"inactive {_days(now - chat.last_active)} (> {rule.inactive_days} days)")
    if chat.unread:
        parts.append(f"{chat.unread} unread")
    elif chat.unread is None:  # not told: never read as none (a close would hide what is unread)
        parts.append("unread ?")
    if rule.names is not None:
        parts.append("name matches")
    if rule.min_members is not None or rule.max_members is not None:
        parts.append(f"{chat.members} members")
    return ", ".join(parts)


def _days(age: timedelta) -> str:
    days = age.days
    return f"{days} days" if days >= 2 else f"{int(age.total_seconds() // 3600)} hours"


def example() -> str:
    """The commented example policy shipped with the package (tidy-policy.example.toml)."""
    from importlib.resources import files

    return files("cliq_mcp").joinpath("tidy-policy.example.toml").read_text(encoding="utf-8")


def load(path: str | Path) -> Policy:
    """Read and check a policy file; ``PolicyError`` names the line of anything wrong."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_TEXT + 1)  # never more: a policy is a page of TOML (not /dev/zero)
    except OSError as exc:
        raise PolicyError(f"Cannot read the policy file {path.name}: {exc.strerror or exc}.", "") from None
    return parse_policy(raw, path.name)


def parse_policy(raw: bytes, name: str) -> Policy:
    """``name``: the file's (for messages and the label); "" for a policy given as text (preview_policy)."""
    shown = name or "the policy"
    if len(raw) > MAX_TEXT:
        raise PolicyError(f"{shown}: the policy file is larger than {MAX_TEXT // 1000} KB.", "")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{shown}: not UTF-8 text (at byte {exc.start}).", "") from None
    if sys.version_info >= (3, 11):  # imported here: serving tools needs no TOML parser until a policy is read
        import tomllib
    else:  # pragma: no cover - Python 3.10 reads TOML with tomli, the same parser
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except RecursionError:  # tomllib recurses per level of nesting
        raise PolicyError(f"{shown}: nested too deeply to be a policy.", _HINT) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{shown}: not valid TOML: {exc}.", "") from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = tuple(str(p) for p in error["loc"] if not isinstance(p, int))
        raise PolicyError(f"{shown}, line {_line(text, where)}: {_message(where, error)}", _HINT) from None
    rules = {a: r for a in ACTIONS if (r := getattr(parsed, a)) is not None}
    problem = _contradiction(parsed, rules)
    if problem:
        where, reason = problem
        raise PolicyError(f"{shown}, line {_line(text, where)}: {reason}", _HINT)
    return Policy(name, hashlib.sha256(raw).hexdigest(), parsed.limits, parsed.exclude, rules)


FORMAT = (
    "A policy is TOML: [exclude] pinned (default true), muted, names (glob patterns), chat_ids; one table per "
    "action, [close] [leave] [mark_read] [clear_unread], with chat_types, inactive_days, unread, names (only "
    "these), min_members, max_members, max_acts; [limits] max_acts (default 50), max_wait_minutes."
)
_HINT = FORMAT + " `cliq-mcp tidy --example` prints a commented one."


def _message(where: tuple[str, ...], error: Any) -> str:
    key = ".".join(where) or "the file"
    if len(key) > 80:  # a key is the file's own text: shown bounded, never whole
        key = key[:79] + "…"
    kind = error["type"]
    if kind == "extra_forbidden" and len(where) == 2 and where[0] in ACTIONS and "exclu" in where[1]:
        return (f"unknown key {key!r}: what no action may touch goes in the [exclude] table (names, chat_ids, "
                f"pinned, muted); {where[0]}.names means the opposite, only chats with these names.")  # fmt: skip
    if kind == "extra_forbidden":
        known = _known(where[:-1])
        return f"unknown key {key!r}" + (f" (known here: {', '.join(known)})" if known else "") + "."
    if where == ("version",):
        return "version must be 1."
    if kind == "literal_error":
        return f"{key} holds an unknown chat type (known: {', '.join(CHAT_TYPES)})."
    if kind == "value_error":
        return f"{key} {str(error['msg']).removeprefix('Value error, ')}."
    if kind in ("int_type", "bool_type", "list_type", "string_type", "model_type", "dict_type"):
        wanted = {"int_type": "a whole number", "bool_type": "true or false", "list_type": "a list",
                  "string_type": "text in quotes", "model_type": "a table", "dict_type": "a table"}[kind]  # fmt: skip
        return f"{key} must be {wanted}."
    return f"{key}: {error['msg']}."


def _known(table: tuple[str, ...]) -> list[str]:
    model: Any = {(): _File, ("limits",): Limits, ("exclude",): Exclude}.get(table)
    if model is None and len(table) == 1 and table[0] in ACTIONS:
        model = Rule
    return list(model.model_fields) if model is not None else []


def _contradiction(parsed: _File, rules: dict[Action, Rule]) -> tuple[tuple[str, ...], str] | None:
    if not rules:
        return (), "the policy names no action: add a [close], [leave], [mark_read] or [clear_unread] table."
    for action, rule in rules.items():
        at = (action,)
        if action in DESTRUCTIVE and rule.inactive_days is None and rule.names is None:
            return at, (
                f"[{action}] has neither inactive_days nor names, so it would {action} chats in use "
                "(chat types, members or unread alone say nothing of that): give inactive_days, or names."
            )
        if rule.min_members is not None and rule.max_members is not None and rule.min_members > rule.max_members:
            return (action, "min_members"), f"{action}.min_members is more than max_members: no chat can match."
        if action in ("mark_read", "clear_unread") and rule.unread is False:
            return (action, "unread"), f"{action}.unread = false: a chat without unread messages has nothing to mark."
        cannot = CANNOT.get(action, frozenset())
        if rule.chat_types is not None and set(rule.chat_types) <= cannot:
            return (action, "chat_types"), f"Cliq cannot {action} a {' or '.join(sorted(cannot))}."
        if rule.max_acts is not None and rule.max_acts > parsed.limits.max_acts:
            return (action, "max_acts"), (
                f"{action}.max_acts ({rule.max_acts}) is more than limits.max_acts ({parsed.limits.max_acts})."
            )
        both = set(rule.names or ()) & set(parsed.exclude.names)
        if both:
            return (action, "names"), f"{action}.names and exclude.names both hold {sorted(both)[0]!r}."
    return None


_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+))*)\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in re.findall(r"\"[^\"]+\"|'[^']+'|[^.]+", dotted))


def _line(text: str, where: tuple[str, ...]) -> int:
    """The line of ``where`` (table, then key) in the file: the key's line, else its table's, else 1.
    Tables as [headers] or [[headers]], keys plain or dotted; lines inside multi-line strings are skipped."""
    table: tuple[str, ...] = ()
    table_line: dict[tuple[str, ...], int] = {}
    key_line: dict[tuple[str, ...], int] = {}
    inside: str | None = None  # the quotes of a multi-line string this line is in
    for number, line in enumerate(text.splitlines(), start=1):
        if inside is not None:
            if line.count(inside) % 2 == 1:
                inside = None
            continue
        header = _HEADER.match(line)
        if header:
            table = _parts(header[1])
            table_line.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            full = (*table, *_parts(key[1]))
            for depth in range(len(table) + 1, len(full) + 1):  # a.b.c = 1 also places a.b
                key_line.setdefault(full[:depth], number)
        for quotes in ('"""', "'''"):
            if line.count(quotes) % 2 == 1:
                inside = quotes
                break
    for depth in range(len(where), 0, -1):
        found = key_line.get(where[:depth]) or table_line.get(where[:depth])
        if found:
            return found
    return 1
