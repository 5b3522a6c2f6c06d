"""One tool call, passed down explicitly. ``Call`` is the ``Sender`` that every runner, walk, lookup, question and
guard step of the call is given. What the account shares (connections, pacing, the access token, the plans)
lives in its client. What this call alone learns on its way lives here and ends with the call: the writes that
left for Cliq, the chats it last read, the names it learnt, and the MCP round it answers or puts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cliq_mcp.cliq.client import CliqClient
from cliq_mcp.cliq.wire import RateLimit, Wire
from cliq_mcp.tools.plans import Plans
from cliq_mcp.tools.row import ChatStates


@dataclass(eq=False)
class Call:
    client: CliqClient
    # The 2026-07-28 round: the digest of the sealed request state this call carries (an answer's call), and
    # what the guard wants kept of a round this call puts (guard/replay.py hands both in at the SDK's boundary).
    sealed_state: str | None = None
    round: dict[str, Any] | None = None
    sent: list[str] = field(default_factory=list)  # the paths of the writes that left for Cliq in this call
    last_read: tuple[tuple[str, ...], ChatStates] | None = None  # see walks.chat_states
    names: dict[str, str] = field(default_factory=dict)  # user id -> name, learnt in this call
    # The batch this call acts on, where a plan gave it or the budget cut it (see Sender).
    left_alone: list[tuple[str, str, str]] = field(default_factory=list)
    later: list[str] = field(default_factory=list)
    of: int | None = None

    @property
    def cursor_key(self) -> bytes:
        return self.client.cursor_key

    @property
    def plans(self) -> Plans:
        return self.client.plans

    @property
    def users_api_refused(self) -> str | None:
        return self.client.users_api_refused

    @users_api_refused.setter
    def users_api_refused(self, why: str | None) -> None:
        self.client.users_api_refused = why  # the account's, not the call's: learnt once per process

    async def send(self, wire: Wire, rate: RateLimit, *, recent: bool = False) -> Any:
        return await self.client.send(wire, rate, recent=recent, sent=self.sent)

    def write_barred(self, chat_id: str) -> str:
        return self.client.write_barred(chat_id)

    def now(self) -> float:
        return self.client.now()

    async def room(self, rate: RateLimit, need: int = 1) -> tuple[int, float] | None:
        return await self.client.room(rate, need)
