"""What one catalogue row is: an ``Operation``, its ``Effect``, and how the request is built from validated
input. The rows themselves are in ``tools/catalogue.py``; the runners for operations that take more than one
request are in ``tools/walks.py``. Nothing here does I/O."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Protocol

from cliq_mcp.cliq.responses import ChatObject
from cliq_mcp.cliq.wire import RateLimit, Wire, path_segment
from cliq_mcp.tools import inputs as m
from cliq_mcp.tools import outputs as o
from cliq_mcp.tools import summaries as s
from cliq_mcp.tools.plans import Plans


class ReportProgress(Protocol):
    """Hears a tool's progress reports: done so far, the total if known, what it is doing."""

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None: ...


# The open chats among some ids (by id), and the ids of those closed: one read of their states (tools/walks.py).
ChatStates = tuple[dict[str, "ChatObject"], set[str]]


class Sender(Protocol):
    """What a runner, walk, lookup or question needs: one tool call (``tools.call.Call``), which reaches Cliq
    through the account's client and keeps what this call alone has learnt."""

    users_api_refused: str | None  # why the Users API does not answer this token, once learnt (tools/people.py)
    # The last chat states read in this call (walks.chat_states), for the ids they were read for.
    last_read: tuple[tuple[str, ...], ChatStates] | None
    names: dict[str, str]  # user id -> name, where this call learnt it (emails resolved, the guard's member read)
    # A batch given by a plan, or cut by the account's budget (walks.by_plan, walks.within_budget): the plan's chats
    # found no longer due, (chat id, outcome, reason); the chats cut before anyone was asked; how many in all.
    left_alone: list[tuple[str, str, str]]
    later: list[str]
    of: int | None

    @property
    def cursor_key(self) -> bytes:
        """Signs the cursors a walk hands out."""
        ...

    @property
    def plans(self) -> Plans:
        """The account's plans, by handle (plan_tidy keeps them, close_chats acts on them)."""
        ...

    async def send(self, wire: Wire, rate: RateLimit, *, recent: bool = False) -> Any: ...

    def write_barred(self, chat_id: str) -> str:
        """Why this server may not write to the chat (its allow/deny lists), or ""."""
        ...

    def now(self) -> float:
        """The client's clock (seconds), for a runner's time budget."""
        ...

    async def room(self, rate: RateLimit, need: int = 1) -> tuple[int, float] | None:
        """How many ``rate`` requests the account may send now, and the seconds until it may send ``need`` (None:
        not paced)."""
        ...


Catalogue = Mapping[str, "Operation"]
Runner = Callable[["Operation", m.Request, Sender, ReportProgress, Catalogue], Awaitable[Any]]


class Effect(Enum):
    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


@dataclass(frozen=True, kw_only=True)
class Operation:
    name: str
    title: str
    model: type[m.Request]
    method: str
    path: str  # "{field}" placeholders are filled from the request, percent-encoded
    effect: Effect  # drives annotations, read-only filtering and the guard
    summary: s.Summary
    output: type[o.Output]
    rate: RateLimit
    # The request fields that name chats this operation writes to, for the guard's allow/deny lists and
    # questions: "chat_id" (one id), "chat_ids[]" (a list of ids), "chats[].chat_id" (a list of objects).
    # Required, so no write can be added without saying which chats it touches (() for reads and creation).
    targets: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)  # constant query (GET/DELETE) or body fields
    idempotent: bool = False
    # Chat types Cliq refuses this operation for (the notes): the guard refuses them before asking anyone.
    refused_types: frozenset[str] = frozenset()
    confirm: str = ""  # destructive only: what a person is asked; {chat}, {chats} and {people} are filled in
    each: str = ""  # a list field: the request is sent once per chat id in it (as {chat_id} of the path)
    run: Runner | None = None  # for operations that take more than one request; default: send wire()

    @cached_property
    def arguments(self) -> type[m.Request]:
        """The tool's input model: the request model plus the guard's arguments for writes (``dry_run``)."""
        if self.effect is Effect.READ:
            return self.model
        return m.with_options(self.model, m.WriteOptions)

    @cached_property
    def arguments_with_token(self) -> type[m.Request]:
        """Under CLIQ_GUARD=trust-host only: a destructive tool also takes the preview's ``confirmation_token``."""
        if self.effect is not Effect.DESTRUCTIVE:
            return self.arguments
        return m.with_options(self.model, m.ConfirmOptions)

    def target_chats(self, request: m.Request) -> list[str]:
        """The chat ids this request writes to, read from the fields the row declares."""
        found: list[str] = []
        for spec in self.targets:
            name, _, inner = spec.partition("[]")
            value = getattr(request, name, None)
            if not inner:
                found += [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
            else:
                found += [str(getattr(item, inner.lstrip("."))) for item in value or []]
        return found

    def _build(self, values: dict[str, Any]) -> Wire:
        path = re.sub(r"\{(\w+)\}", lambda match: path_segment(str(values.pop(match[1]))), self.path)
        if self.method in ("GET", "DELETE"):
            return Wire(self.method, path, params={**self.fixed, **{k: _query_value(v) for k, v in values.items()}})
        body = {**self.fixed, **values}
        return Wire(self.method, path, json=body or None)

    def wire(self, request: m.Request) -> Wire:
        """The exact HTTP request for validated input: path fields, then query or JSON body."""
        return self._build(request.model_dump(mode="json", exclude_none=True, by_alias=True))  # Cliq's names

    def wires(self, request: m.Request) -> list[Wire]:
        """Every request the operation sends (one per chat for an ``each`` operation)."""
        if getattr(request, "all", False):  # clear_unread_counts with all: one such request per listed page
            return [self._build({"chat_ids": ["(each page's unread chats, from GET /chats?limit=100)"]})]
        if not self.each:
            return [self.wire(request)]
        return [self._build({"chat_id": chat_id}) for chat_id in getattr(request, self.each)]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
