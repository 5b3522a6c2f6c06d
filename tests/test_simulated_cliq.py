"""The tests' own machinery around the simulated Cliq: the request recorder and the fault queue, in-process
and over a real loopback socket (simulated_cliq.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from simulated_cliq import ConnectionDropped, Fault, Workspace, observed, serve_in_background

AUTH = {"Authorization": "Zoho-oauthtoken sandbox-token"}
Q2 = "2890538000000099999"
REFRESH = {
    "grant_type": "refresh_token",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh",
}


@pytest.fixture
def ws() -> Workspace:
    return Workspace(rate_limits=False)


@pytest.fixture
async def api(ws: Workspace) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=observed(ws))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=AUTH) as client:
        yield client


# --- faults and recording ---------------------------------------------------------------------------


async def test_status_html_and_stall_faults(api: httpx.AsyncClient, ws: Workspace) -> None:
    ws.inject(
        Fault(
            "GET",
            "/api/v3/chats",
            "status",
            status=503,
            body={"code": "service_unavailable"},
            headers={"Retry-After": "2"},
            times=2,
        )
    )
    for _ in range(2):
        response = await api.get("/api/v3/chats")
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        assert response.json() == {"code": "service_unavailable"}
    assert (await api.get("/api/v3/chats")).status_code == 200
    ws.inject(Fault(None, "/api/v3/", "html", status=502))
    page = await api.put(f"/api/v3/chats/{Q2}", json={"operation": "close_chat"})
    assert page.status_code == 502 and page.headers["content-type"].startswith("text/html")
    assert "<html>" in page.text and not ws.chats[Q2].closed
    stall = ws.inject(Fault("PUT", "/api/v3/chats/", "stall", seconds=0.01))
    assert (await api.put(f"/api/v3/chats/{Q2}", json={"operation": "close_chat"})).status_code == 204
    assert ws.chats[Q2].closed and (stall.taken, stall.abandoned) == (1, 0)
    ws.inject(Fault("POST", "/oauth/", "drop"))
    with pytest.raises(ConnectionDropped):
        await api.post("/oauth/v2/token", data=REFRESH)
    assert [fault.taken for fault in ws.faults] == [2, 1, 1, 1] and ws.untaken() == []


async def test_a_fault_nobody_triggers_is_reported(api: httpx.AsyncClient, ws: Workspace) -> None:
    unused = ws.inject(Fault("GET", "/api/v3/chats/search", "status", status=503, times=2))
    partly = ws.inject(Fault("GET", "/api/v3/chats", "status", status=503, times=3))
    assert (await api.get("/api/v3/chats")).status_code == 503
    assert ws.untaken() == [unused] and (partly.taken, unused.taken) == (1, 0)
    assert (await api.get("/api/v3/chats/search")).status_code == 503  # taken now, so the test may pass
    assert ws.untaken() == []


async def test_a_stall_the_client_gives_up_on_is_counted_as_abandoned(api: httpx.AsyncClient, ws: Workspace) -> None:
    stall = ws.inject(Fault("GET", "/api/v3/chats", "stall"))  # held until the client goes away
    with anyio.move_on_after(0.05):
        await api.get("/api/v3/chats")
    assert (stall.taken, stall.abandoned) == (1, 1)
    assert (await api.get("/api/v3/chats")).status_code == 200


async def test_requests_are_recorded_as_received(api: httpx.AsyncClient, ws: Workspace) -> None:
    await api.get("/api/v3/chats", params=[("name", "a b"), ("limit", "5")])
    await api.put(f"/api/v3/chats/{Q2}", json={"operation": "close_chat"})
    listed, closed = ws.requests
    assert listed.method == "GET" and listed.query == [("name", "a b"), ("limit", "5")]
    assert listed.headers["authorization"] == "Zoho-oauthtoken sandbox-token" and listed.json is None
    assert closed.json == {"operation": "close_chat"} and json.loads(closed.body) == closed.json
    assert closed.raw_path == f"/api/v3/chats/{Q2}" and closed.form is None
    await api.post("/oauth/v2/token", data=REFRESH)
    token = ws.requests[-1]
    assert token.form == REFRESH and token.path == "/oauth/v2/token" and token.json is None


# --- over a real socket -----------------------------------------------------------------------------


async def test_real_socket_drop_stall_and_recovery() -> None:
    ws = Workspace(rate_limits=False)
    with serve_in_background(ws) as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as client:
            first = await client.get("/api/v3/chats", params={"limit": 2})
            assert first.status_code == 200 and len(first.json()["chats"]) == 2
            dropped = ws.inject(Fault("GET", "/api/v3/chats", "drop"))
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get("/api/v3/chats")
            stall = ws.inject(Fault("GET", "/api/v3/chats", "stall"))
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/api/v3/chats", timeout=0.2)
            assert dropped.taken == 1 and stall.taken == 1
            encoded = await client.get("/api/v3/chats/12%2F34")
            assert encoded.status_code == 404 and ws.requests[-1].raw_path == "/api/v3/chats/12%2F34"
            assert ws.requests[-1].path == "/api/v3/chats/12/34"
            assert (await client.get("/api/v3/chats", params={"limit": 2})).json() == first.json()
