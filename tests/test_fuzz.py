"""Property-based bad input over every tool's arguments and beyond (wrong types, huge strings, unicode,
path-like ids): the server never crashes, never sends a request for input it refused, and no argument
ever changes the request's host or escapes the chats API path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.from_thread
import httpx
import pytest
from conftest import ERAS, env_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from simulated_cliq import Workspace, observed

from cliq_mcp.core.config import Settings
from cliq_mcp.serve.server import build_server
from cliq_mcp.tools.catalogue import CATALOGUE

NASTY = [
    "../../oauth/v2/token", "..", ".", "%2e%2e", "a/b", "//evil.example/x", "http://evil.example/", "?x=1", "#frag",
    "2890538000000099999", "2890538000000099999/../../x", "1773813859592_51531973059", "\u202eevil", "\x00",
    "x" * 20000, "🙂" * 300, " ", "", "null", "[]", "[1,2]", "1,2,../3", "true", "-1", "1e400",
]  # fmt: skip
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.sampled_from(NASTY) | st.text(max_size=300)
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


# Marked era_independent like the test: bad input is refused below the protocol, so once, in the 2026-07-28 era.
@pytest.fixture(scope="module", params=ERAS[:1])
def session(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Client, Workspace, str]]:
    workspace = Workspace(rate_limits=False)
    url, transport = "http://cliq.test", httpx.ASGITransport(app=observed(workspace))  # in-process
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        server = build_server(Settings.from_env(env_for(url, CLIQ_PACING="off")), transport=transport)
        with portal.wrap_async_context_manager(Client(server, mode=request.param)) as client:
            yield portal, client, workspace, url.removeprefix("http://")


@pytest.mark.era_independent
@pytest.mark.parametrize("op", CATALOGUE, ids=[op.name for op in CATALOGUE])
def test_arbitrary_arguments_never_crash_or_escape(session: tuple[Any, Client, Workspace, str], op: Any) -> None:
    portal, client, workspace, host = session
    names = [*op.arguments.model_fields, "extra", "__class__"]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.dictionaries(st.sampled_from(names), values, max_size=5))
    def check(arguments: dict[str, Any]) -> None:
        before = len(workspace.requests)
        result = portal.call(client.call_tool, op.name, arguments)
        text = result.content[0].text if result.content else ""
        assert "Error executing tool" not in text and "failed unexpectedly" not in text, text
        sent = workspace.requests[before:]
        if result.is_error and text.startswith("Invalid arguments"):
            assert sent == []
        for request in sent:
            assert request.headers["host"] == host
            assert request.path.startswith("/api/v3/chats") or request.path == "/api/v2/users"
            assert ".." not in request.raw_path.split("/") and "//" not in request.raw_path
            if op.effect.value != "read":
                assert request.method == "GET" or not text.startswith("Not done")

    check()
    assert portal.call(client.call_tool, "get_chat", {"chat_id": "2890538000000099999"}).is_error is False
