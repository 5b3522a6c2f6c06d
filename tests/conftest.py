"""Shared fixtures: the simulated Cliq served over a real loopback socket, and our server pointed at it.

Nothing of ours is mocked: tests assert what reached the simulated Cliq (``workspace.requests``)
and what an MCP client received.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult

from cliq_mcp.config import Settings
from cliq_mcp.sandbox import RecordedRequest, Workspace, serve_in_background
from cliq_mcp.server import build_server

Q2 = "2890538000000099999"  # "Q2 Product Review - Design, Engineering & QA", a group chat
ALICE = "2890538000000012345"  # a direct chat
ALICE_LAST = "1773813859592_51531973059"

# One valid call of every tool, against the simulated workspace.
EVERY_TOOL: list[tuple[str, dict[str, Any]]] = [
    ("list_chats", {"limit": 5}),
    ("search_chats", {"title": "Q2"}),
    ("get_chat", {"chat_id": Q2, "include": "last_message_info"}),
    ("list_chat_members", {"chat_id": Q2}),
    ("create_chat", {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Sandbox"}),
    ("mark_chats_read", {"chats": [{"chat_id": ALICE, "last_message_id": ALICE_LAST}]}),
    ("clear_unread_counts", {"chat_ids": [ALICE]}),
    ("rename_chat", {"chat_id": Q2, "title": "Q2 Review"}),
    ("set_chat_history", {"chat_id": Q2, "history_status": "enabled"}),
    ("mark_chat_read", {"chat_id": ALICE, "last_message_id": ALICE_LAST}),
    ("mark_chat_unread", {"chat_id": ALICE, "message_id": ALICE_LAST}),
    ("add_chat_members", {"chat_id": Q2, "user_ids": ["55743307"]}),
    ("fork_chat", {"chat_id": ALICE, "message_id": ALICE_LAST, "title": "Fork", "include_participants": True}),
    ("send_typing_activity", {"chat_id": ALICE, "action": "text_entered"}),
    ("mute_chat", {"chat_id": Q2}),
    ("unmute_chat", {"chat_id": Q2}),
    ("remove_chat_members", {"chat_id": Q2, "user_ids": ["55743307"]}),
    ("clear_chat_history", {"chat_id": ALICE}),
    ("close_chat", {"chat_id": ALICE}),
    ("leave_chat", {"chat_id": Q2}),
    ("plan_tidy", {"inactive_days": 30, "max_chats": 5}),
    ("close_chats", {"chat_ids": ["2890538000000067890"]}),
]

ERAS = ["auto", "legacy"]  # 2026-07-28 clients, and handshake-era clients such as Claude Desktop


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Every secret the suite's settings use; none may appear in anything our server logs, at any level.
SUITE_SECRETS = ("sandbox-token", "sandbox-secret", "sandbox-refresh", "wrong-secret", "expired-token-value",
                 "guard-secret-0123456789", "0123456789abcdef0123")  # fmt: skip


@pytest.fixture(autouse=True)
def no_secret_is_logged(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    if request.path.name == "test_sandbox_app.py":
        return  # those tests drive the simulated Cliq with their own HTTP client, not our server
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        if record.name.startswith(("cliq_mcp.sandbox", "uvicorn")):
            continue  # the simulated Cliq is the other side, not our server
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        leaked = [secret for secret in SUITE_SECRETS if secret in text]
        assert not leaked, f"secret logged by {record.name}: {record.getMessage()[:200]}"


@pytest.fixture
def workspace() -> Workspace:
    return Workspace()


@pytest.fixture
def cliq_url(workspace: Workspace) -> Iterator[str]:
    with serve_in_background(workspace) as url:
        yield url


def outside_env() -> dict[str, str]:
    """This process's environment without any CLIQ_* variable, for the subprocesses a test starts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")}


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {
        "CLIQ_API_BASE_URL": f"{url}/api/v3",
        "CLIQ_ACCOUNTS_URL": url,
        "CLIQ_ACCESS_TOKEN": "sandbox-token",
        **extra,
    }


@pytest.fixture
def settings(cliq_url: str, tmp_path: Path) -> Settings:
    # A state directory of its own: used confirmations are remembered there (and the audit log written).
    return Settings.from_env(env_for(cliq_url, XDG_STATE_HOME=str(tmp_path)))


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(settings: Settings, era: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings), mode=era) as c:
        yield c


def api_calls(workspace: Workspace) -> list[RecordedRequest]:
    """The requests that reached the Cliq API (not the token endpoint)."""
    return [r for r in workspace.requests if r.path.startswith("/api/v3/")]


def writes(workspace: Workspace) -> list[RecordedRequest]:
    return [r for r in api_calls(workspace) if r.method != "GET"]


def answering(action: str, content: dict[str, Any] | None = None, seen: list[ElicitRequestParams] | None = None):
    """An elicitation callback that records the question and answers with ``action``."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        if seen is not None:
            seen.append(params)
        return ElicitResult(action=action, content=content)

    return callback
