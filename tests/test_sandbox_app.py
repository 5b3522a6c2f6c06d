"""The simulated Cliq on its own: wire formats, strictness, throttling and tokens.

Everything goes through HTTP, in-process (ASGI), to the sandbox's own app as it ships.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cliq_mcp.sandbox import (
    CONTROL_CHARS_CHAT_ID,
    ME,
    PROMPT_INJECTION_CHAT_ID,
    PROMPT_INJECTION_TEXT,
    Workspace,
    create_app,
)

AUTH = {"Authorization": "Zoho-oauthtoken sandbox-token"}
ALICE_DM = "2890538000000012345"
BOB_DM = "2890538000000067890"
Q2 = "2890538000000099999"
GENERAL = "6795000000000000001"
RYAN = "855727963"
RYAN_EMAIL = "ryan.west@zylker.com"
INVALID = {"code": "invalid_inputs"}


class FakeClock:
    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client_for(ws: Workspace, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(ws)),
        base_url="http://sandbox",
        headers=AUTH if headers is None else headers,
    )


@pytest.fixture
def ws() -> Workspace:
    return Workspace(rate_limits=False)


@pytest.fixture
async def api(ws: Workspace) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(ws) as client:
        yield client


def code_of(response: httpx.Response) -> str:
    body = response.json()
    return str(body["error"]["code"] if "error" in body else body["code"])


# --- list and paging -------------------------------------------------------------------------------


async def test_paging_walks_every_chat_exactly_once(api: httpx.AsyncClient, ws: Workspace) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 37}
    pages = 0
    while True:
        response = await api.get("/api/v3/chats", params=params)
        assert response.status_code == 200
        body = response.json()
        pages += 1
        seen += [chat["chat_id"] for chat in body["chats"]]
        if "next_token" not in body:
            break
        assert len(body["chats"]) == 37
        params = {"limit": 37, "next_token": body["next_token"]}
    assert seen == [chat.chat_id for chat in ws.my_chats()]
    assert len(seen) == len(set(seen)) > 200 and pages == -(-len(seen) // 37)
    times = [ws.chats[cid].modified_ms for cid in seen]
    assert times == sorted(times, reverse=True)


async def test_list_default_limit_and_seed_shape(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/v3/chats", params={"chat_ids": f"{ALICE_DM},{BOB_DM}"})).json()
    assert "next_token" not in body
    # Zoho's list example, as it shows these two chats: Alice's with her last message, Bob's without, neither
    # with an unread count (the document promises neither), and no field the document does not name.
    assert body["chats"] == [
        {
            "chat_id": ALICE_DM,
            "name": "Alice Johnson",
            "chat_type": "direct_message",
            "participant_count": 2,
            "created_time": "2024-06-01T09:00:00.000Z",
            "last_modified_time": "2025-04-10T14:30:00.000Z",
            "pinned": False,
            "removed": False,
            "creator": {"id": ME, "name": "Tim Harrison"},
            "last_message_info": {
                "message_id": "1773813859592_51531973059",
                "sender": ME,
                "time": "2025-04-10T14:30:00.000Z",
                "content": {"text": "See you at the standup!"},
                "type": "text",
            },
        },
        {
            "chat_id": BOB_DM,
            "name": "Bob Carter",
            "chat_type": "direct_message",
            "participant_count": 2,
            "created_time": "2024-09-15T11:00:00.000Z",
            "last_modified_time": "2025-04-09T09:45:00.000Z",
            "pinned": True,
            "removed": False,
            "creator": {"id": ME, "name": "Tim Harrison"},
        },
    ]
    assert len((await api.get("/api/v3/chats")).json()["chats"]) == 20


async def test_lists_leave_out_what_the_document_does_not_promise(ws: Workspace) -> None:
    """By default (``lists="document"``) a realistic share of list entries lack the unread count and the last
    message, and some last messages come in the schema's shape; get always carries the count."""
    async with client_for(ws) as api:
        chats = (await api.get("/api/v3/chats", params={"limit": 100})).json()["chats"]
        alone = (await api.get(f"/api/v3/chats/{chats[0]['chat_id']}")).json()["data"]
    without_count = sum("unread_message_count" not in c for c in chats)
    without_last = sum("last_message_info" not in c for c in chats)
    schema_shape = sum("sender_id" in c.get("last_message_info", {}) for c in chats)
    assert 30 <= without_count <= 70 and 20 <= without_last <= 50 and schema_shape >= 5
    assert "unread_message_count" in alone
    full = Workspace(rate_limits=False, lists="full")
    async with client_for(full) as api:
        chats = (await api.get("/api/v3/chats", params={"limit": 100})).json()["chats"]
    assert all("unread_message_count" in c for c in chats)
    assert all("message_id" in c["last_message_info"] for c in chats if "last_message_info" in c)


async def test_cursor_is_tied_to_its_query(api: httpx.AsyncClient) -> None:
    token = (await api.get("/api/v3/chats", params={"limit": 5})).json()["next_token"]
    mismatches: list[dict[str, str]] = [
        {"limit": "6", "next_token": token},
        {"limit": "5", "next_token": token, "pinned": "true"},
        {"limit": "5", "next_token": "not-a-cursor!"},
        {"limit": "5", "next_token": "e30"},  # base64 of {}
    ]
    for params in mismatches:
        response = await api.get("/api/v3/chats", params=params)
        assert response.status_code == 400 and response.json()["code"] == "invalid_inputs", params


async def test_list_filters(api: httpx.AsyncClient, ws: Workspace) -> None:
    async def ids(**params: Any) -> set[str]:
        response = await api.get("/api/v3/chats", params={"limit": 100, **params})
        assert response.status_code == 200, response.text
        assert "next_token" not in response.json()
        return {chat["chat_id"] for chat in response.json()["chats"]}

    mine = [chat for chat in ws.chats.values() if ME in chat.members]
    assert await ids(pinned="true") == {c.chat_id for c in mine if c.pinned and not c.closed}
    assert await ids(muted="true") == {c.chat_id for c in mine if c.muted and not c.closed} == await ids(type="muted")
    assert await ids(closed="true") == {c.chat_id for c in mine if c.closed} != set()
    assert await ids(drafts="true") == {c.chat_id for c in mine if c.draft and not c.closed}
    assert await ids(name="gENer") >= {GENERAL}
    unjoined = await ids(joined="false")
    assert unjoined and all(ME not in ws.chats[cid].members for cid in unjoined)
    assert await ids(type="bot") == {"2890538000000077701", "2890538000000077702"}
    assert await ids(recipient=RYAN, type="dm") == {"2198144177691461096"}  # the document's values, not chat_type's
    open_ = [c for c in mine if not c.closed]
    assert await ids(type="threads") == {c.chat_id for c in open_ if c.chat_type == "thread"} != set()
    assert await ids(type="channel") == {c.chat_id for c in open_ if c.chat_type == "channel"} != set()
    assert await ids(type="guests") == {c.chat_id for c in open_ if c.guests} != set()
    parent = next(c.parent_chat_id for c in open_ if c.chat_type == "thread")
    assert await ids(parent_chid=parent) == {c.chat_id for c in open_ if c.parent_chat_id == parent}
    after = ws.chats[ALICE_DM].modified_ms
    assert all(ws.chats[cid].modified_ms > after for cid in await ids(modified_after=after))


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"pinned": "yes"},
        {"modified_after": "2025-01-01T00:00:00Z"},  # epoch ms only on the list
        {"modified_after": 20, "modified_before": 10},
        {"type": "direct_message"},  # the chat object's value, not one GET /chats takes
        {"type": "group_chat"},  # the list has no group filter
        {"type": "dm,bot"},
        {"recipient": RYAN_EMAIL},  # the document: a USER_ID
        {"chat_ids": "12,abc"},
        {"recipient": "nobody@example.com"},
        {"unknown": "1"},
        {"name": ""},
    ],
)
async def test_list_rejects_bad_queries(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await api.get("/api/v3/chats", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_inputs" and response.json()["message"]


# --- search and get --------------------------------------------------------------------------------


async def test_search(api: httpx.AsyncClient, ws: Workspace) -> None:
    everything = (await api.get("/api/v3/chats/search")).json()
    assert set(everything) == {"chats"} and len(everything["chats"]) == len(ws.chats)  # default 500
    found = (await api.get("/api/v3/chats/search", params={"title": "general", "limit": 5})).json()["chats"]
    assert [chat["chat_id"] for chat in found] == [GENERAL]
    window = {"modified_after": "2025-04-01T00:00:00Z", "modified_before": "1746057600000"}
    found = (await api.get("/api/v3/chats/search", params={**window, "chat_type": "direct_message"})).json()
    assert ALICE_DM in {chat["chat_id"] for chat in found["chats"]}
    by_usage = (await api.get("/api/v3/chats/search", params={"sort_by": "usage", "limit": 3})).json()
    assert by_usage["chats"][0]["chat_id"] == ALICE_DM  # the most used chat


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"modified_after": "1746057600000", "modified_before": "1746057600000"}, "invalid.time.submitted"),
        ({"modified_after": "2025-05-02", "modified_before": "2025-05-01"}, "invalid.time.submitted"),
        ({"modified_after": "yesterday"}, "invalid.time.submitted"),
        ({"chat_type": "bot"}, "invalid.inputs.submitted"),
        ({"sort_by": "name"}, "invalid.inputs.submitted"),
        ({"limit": 501}, "invalid.inputs.submitted"),
        ({"title": "x" * 201}, "invalid.inputs.submitted"),
        ({"name": "x"}, "invalid.inputs.submitted"),
    ],
)
async def test_search_errors_are_nested(api: httpx.AsyncClient, params: dict[str, Any], code: str) -> None:
    response = await api.get("/api/v3/chats/search", params=params)
    assert response.status_code == 400
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == code


async def test_get_chat(api: httpx.AsyncClient) -> None:
    plain = (await api.get(f"/api/v3/chats/{Q2}")).json()
    assert plain["type"] == "chat" and plain["data"]["unread_message_count"] == 3
    assert "last_message_info" not in plain["data"] and plain["data"]["participant_count"] == 5
    full = (await api.get(f"/api/v3/chats/{Q2}", params={"include": "last_message_info"})).json()["data"]
    assert full["last_message_info"]["content"]["text"] == "Let's sync up before the review."
    assert full["created_time"] == "2025-06-15T10:30:00+05:30"
    narrow = (await api.get(f"/api/v3/chats/{Q2}", params={"fields": "name,unread_message_count"})).json()
    assert narrow["data"] == {"chat_id": Q2, "name": full["name"], "unread_message_count": 3}
    for params in ({"include": "members"}, {"fields": "name,secret"}, {"fields": ",".join(["name"] * 21)}):
        response = await api.get(f"/api/v3/chats/{Q2}", params=params)
        assert response.status_code == 400 and response.json()["code"] == "invalid_inputs"
    missing = await api.get("/api/v3/chats/1234567890")
    assert missing.status_code == 404 and missing.json()["code"] == "chat_access_denied"


async def test_security_fixtures_are_served_verbatim(api: httpx.AsyncClient, ws: Workspace) -> None:
    params = {"include": "last_message_info"}
    injected = (await api.get(f"/api/v3/chats/{PROMPT_INJECTION_CHAT_ID}", params=params)).json()
    assert injected["data"]["last_message_info"]["content"]["text"] == PROMPT_INJECTION_TEXT
    odd = (await api.get(f"/api/v3/chats/{CONTROL_CHARS_CHAT_ID}")).json()["data"]["name"]
    assert odd == ws.chats[CONTROL_CHARS_CHAT_ID].name and "\u200b" in odd and "\u202e" in odd


# --- auth and scopes --------------------------------------------------------------------------------


async def test_authentication_shapes(ws: Workspace) -> None:
    for headers in ({}, {"Authorization": "Bearer sandbox-token"}, {"Authorization": "Zoho-oauthtoken nope"}):
        async with client_for(ws, headers) as client:
            response = await client.get("/api/v3/chats")
            assert response.status_code == 401
            assert response.json() == {"message": "Request was rejected because of invalid AuthToken."}
            search = await client.get("/api/v3/chats/search")
            assert search.status_code == 401 and search.json()["error"]["code"] == "unauthorized"


async def test_scopes() -> None:
    tokens = {
        "reader": frozenset({"ZohoCliq.Chats.READ"}),
        "messages": frozenset({"ZohoCliq.Messages.UPDATE"}),
    }
    ws = Workspace(rate_limits=False, access_tokens=tokens)
    async with client_for(ws, {"Authorization": "Zoho-oauthtoken reader"}) as reader:
        assert (await reader.get("/api/v3/chats")).status_code == 200
        denied = await reader.put(f"/api/v3/chats/{Q2}", json={"operation": "close_chat"})
        assert denied.status_code == 403 and denied.json()["code"] == "invalid_access"
        search = await reader.get("/api/v3/chats/search")
        assert search.status_code == 200
    async with client_for(ws, {"Authorization": "Zoho-oauthtoken messages"}) as messages:
        last = ws.chats[Q2].messages[-1].message_id
        read = await messages.put(f"/api/v3/chats/{Q2}", json={"operation": "mark_as_read", "last_message_id": last})
        assert read.status_code == 204
        rename = await messages.put(f"/api/v3/chats/{Q2}", json={"operation": "update_title", "title": "x"})
        assert rename.status_code == 403
        search = await messages.get("/api/v3/chats/search")
        assert search.status_code == 403 and search.json()["error"]["code"] == "invalid_access"


# --- create and bulk update -------------------------------------------------------------------------


async def test_create_chats(api: httpx.AsyncClient, ws: Workspace) -> None:
    again = await api.post("/api/v3/chats", json={"chat_type": "direct_message", "user_id": RYAN})
    assert again.status_code == 200 and again.json()["data"]["chat_id"] == "2198144177691461096"
    newcomer = next(uid for uid in reversed(list(ws.users)) if ws.direct_chat_with(uid) is None)
    fresh = (await api.post("/api/v3/chats", json={"chat_type": "direct_message", "user_id": newcomer})).json()
    assert fresh["url"] == "/v3/chats" and fresh["type"] == "chat"
    assert fresh["data"]["user_membership"] == {"pinned": False, "removed": False}
    assert fresh["data"]["name"] == ws.users[newcomer].name and fresh["data"]["participant_count"] == 2
    group = {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "Trio"}
    created = (await api.post("/api/v3/chats", json=group)).json()["data"]
    assert created["participant_count"] == 3 and created["creator"]["id"] == ME
    assert sorted(ws.chats[created["chat_id"]].members) == sorted([ME, "106324287", "70317945"])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"chat_type": "group_chat", "user_ids": [ME, "106324287"], "title": "Pair"},
            "insufficient_members_to_create_group_chat",
        ),
        ({"chat_type": "group_chat", "user_ids": ["106324287", "999"], "title": "T"}, "invalid_inputs"),
        ({"chat_type": "group_chat", "user_ids": [106324287, 70317945], "title": "T"}, "invalid_inputs"),
        (
            {"chat_type": "group_chat", "user_ids": ["106324287", "70317945"], "title": "x" * 256},
            "invalid_inputs",
        ),
        ({"chat_type": "group_chat", "user_ids": [], "title": "T"}, "invalid_inputs"),
        ({"chat_type": "group_chat", "user_ids": ["106324287", "70317945"]}, "param_missing"),
        ({"chat_type": "direct_message", "user_id": RYAN, "title": "extra"}, "invalid_inputs"),
        ({"chat_type": "channel", "user_id": RYAN}, "invalid_inputs"),
        ({"user_id": RYAN}, "param_missing"),
    ],
)
async def test_create_is_strict(api: httpx.AsyncClient, body: dict[str, Any], code: str) -> None:
    response = await api.post("/api/v3/chats", json=body)
    assert response.status_code == 400 and response.json()["code"] == code


async def test_non_json_bodies_are_refused(api: httpx.AsyncClient) -> None:
    form = await api.post("/api/v3/chats", data={"chat_type": "direct_message", "user_id": RYAN})
    text = await api.post("/api/v3/chats", content=b"{", headers={"Content-Type": "application/json"})
    array = await api.post("/api/v3/chats", json=[{"chat_type": "direct_message"}])
    for response in (form, text, array):
        assert response.status_code == 400 and response.json()["code"] == "invalid_inputs"


async def test_bulk_read_status_and_clear_unread(api: httpx.AsyncClient, ws: Workspace) -> None:
    body = {
        "operation": "read_status_update",
        "read_status": "read",
        "chats": [
            {"chat_id": ALICE_DM, "last_message_id": "1773813859592_51531973059"},
            {"chat_id": BOB_DM, "last_message_id": "1773813860210_51531973060"},
            {"chat_id": Q2, "last_message_id": "1773813859592_51531973059"},  # Alice's message, not Q2's
            {"chat_id": "1234", "last_message_id": "1_1"},
        ],
    }
    response = await api.put("/api/v3/chats", json=body)
    assert response.json() == {
        "type": "chat.read_status",
        "data": {"success": [ALICE_DM, BOB_DM], "failure": [Q2, "1234"]},
    }
    assert ws.chats[BOB_DM].unread == 0 and ws.chats[Q2].unread == 3
    cleared = await api.put("/api/v3/chats", json={"operation": "clear_unread", "chat_ids": [Q2]})
    assert cleared.status_code == 204 and cleared.content == b"" and ws.chats[Q2].unread == 0
    for bad in (
        {**body, "read_status": "unread"},
        {**body, "chats": [{"chat_id": ALICE_DM}]},
        {**body, "chats": [{"chat_id": ALICE_DM, "last_message_id": "x"}] * 101},
        {"operation": "clear_unread", "chat_ids": [Q2], "extra": 1},
        {"operation": "clear_unread", "chat_ids": ["1234"]},
        {"operation": "archive"},
    ):
        assert (await api.put("/api/v3/chats", json=bad)).status_code == 400, bad
    assert code_of(await api.put("/api/v3/chats", json={"chat_ids": [Q2]})) == "param_missing"


# --- one chat ----------------------------------------------------------------------------------------


async def test_update_operations(api: httpx.AsyncClient, ws: Workspace) -> None:
    url = f"/api/v3/chats/{Q2}"
    renamed = await api.put(url, json={"operation": "update_title", "title": "Quarterly Rewards"})
    assert renamed.json() == {"type": "chat.title", "data": {"title": "Quarterly Rewards", "chat_id": Q2}}
    assert (
        await api.put(url, json={"operation": "update_history_status", "history_status": "disabled"})
    ).status_code == 204
    first, last = ws.chats[Q2].messages[0].message_id, ws.chats[Q2].messages[-1].message_id
    assert (await api.put(url, json={"operation": "mark_as_read", "last_message_id": last})).status_code == 204
    assert ws.chats[Q2].unread == 0
    assert (await api.put(url, json={"operation": "mark_as_unread", "message_id": first})).status_code == 204
    assert ws.chats[Q2].unread == 4
    assert (await api.put(url, json={"operation": "clear_local_history"})).status_code == 204
    data = (await api.get(url, params={"include": "last_message_info"})).json()["data"]
    assert "last_message_info" not in data and data["unread_message_count"] == 0
    gone = await api.put(url, json={"operation": "mark_as_read", "last_message_id": last})
    assert gone.status_code == 400 and gone.json()["code"] == "invalid_inputs"
    assert (await api.put(url, json={"operation": "close_chat"})).status_code == 204
    listed = (await api.get("/api/v3/chats", params={"chat_ids": Q2})).json()["chats"]
    closed = (await api.get("/api/v3/chats", params={"chat_ids": Q2, "closed": "true"})).json()["chats"]
    assert listed == [] and [chat["chat_id"] for chat in closed] == [Q2]


@pytest.mark.parametrize(
    ("chat_id", "body", "code"),
    [
        (Q2, {"title": "No operation"}, "param_missing"),
        (Q2, {"operation": "update_title"}, "param_missing"),
        (Q2, {"operation": "update_title", "title": "T", "history_status": "enabled"}, "invalid_inputs"),
        (Q2, {"operation": "close_chat", "title": "T"}, "invalid_inputs"),
        (Q2, {"operation": ["close_chat", "update_title"]}, "invalid_inputs"),
        (Q2, {"operation": "update_history_status", "history_status": "on"}, "invalid_inputs"),
        (Q2, {"operation": "mark_as_unread", "message_id": "1_2"}, "invalid_inputs"),
        (Q2, {"operation": "update_title", "title": "x" * 256}, "invalid_inputs"),
        (GENERAL, {"operation": "update_title", "title": "Town Hall"}, "channel_title_update_not_supported"),
        (GENERAL, {"operation": "clear_local_history"}, "chat_clear_local_history_not_supported"),
    ],
)
async def test_update_is_strict(api: httpx.AsyncClient, chat_id: str, body: dict[str, Any], code: str) -> None:
    response = await api.put(f"/api/v3/chats/{chat_id}", json=body)
    assert response.status_code == 400 and response.json()["code"] == code


async def test_members(api: httpx.AsyncClient, ws: Workspace) -> None:
    url = "/api/v3/chats/2971901296197152390/members"
    added = await api.post(url, json={"user_ids": ["55743307", "55622727", ME]})
    assert added.json() == {
        "type": "chat.member",
        "data": {"chat_id": "2971901296197152390", "added_user_ids": ["55743307", "55622727"]},
    }
    listed = (await api.get(url, params={"fields": "user_id,name"})).json()["members"]
    assert {"user_id": "55743307", "name": "Dev Patel"} in listed and len(listed) == 5
    removed = await api.delete(url, params={"user_ids": "55743307,55622727"})
    assert removed.json()["data"] == {
        "chat_id": "2971901296197152390",
        "removed_user_ids": ["55743307", "55622727"],
    }
    assert "55743307" not in ws.chats["2971901296197152390"].members
    with_body = await api.request("DELETE", url, params={"user_ids": "72589892"}, json={"user_ids": ["72589892"]})
    assert with_body.status_code == 400 and with_body.json()["code"] == "invalid_inputs"
    assert code_of(await api.delete(url, params={"user_ids": "55743307"})) == "invalid_inputs"  # not a member
    assert code_of(await api.delete(url)) == "param_missing"
    dm = f"/api/v3/chats/{ALICE_DM}/members"
    assert code_of(await api.post(dm, json={"user_ids": [RYAN]})) == "one_to_one_chat_add_member_not_allowed"
    assert code_of(await api.delete(dm, params={"user_ids": RYAN})) == "one_to_one_chat_delete_member_not_allowed"
    ws.participant_limit = 3
    full = await api.post(url, json={"user_ids": [RYAN]})
    assert full.status_code == 400 and full.json()["code"] == "group_chat_participants_limit_exceeded"


async def test_fork(api: httpx.AsyncClient, ws: Workspace) -> None:
    url = f"/api/v3/chats/{Q2}/forks"
    start = ws.chats[Q2].messages[1].message_id
    as_array = await api.post(url, json={"message_id": start, "title": "Fork", "user_ids": ["55743307"]})
    assert as_array.status_code == 400 and as_array.json()["code"] == "invalid_inputs"
    fork = await api.post(url, json={"message_id": start, "title": "Fork: QA", "user_ids": "55743307,55622727"})
    data = fork.json()["data"]
    assert fork.json()["type"] == "chat" and data["chat_type"] == "group_chat" and data["participant_count"] == 3
    assert [m.message_id for m in ws.chats[data["chat_id"]].messages] == [
        m.message_id for m in ws.chats[Q2].messages[1:]
    ]
    copy = {"message_id": start, "title": "All of us", "user_ids": "55743307", "include_participants": True}
    copied = (await api.post(url, json=copy)).json()["data"]
    assert sorted(ws.chats[copied["chat_id"]].members) == sorted(ws.chats[Q2].members)
    for bad in (
        {"message_id": start},
        {"title": "T"},
        {"message_id": "1_1", "title": "T"},
        {"message_id": start, "title": "T", "include_participants": "yes"},
        {"message_id": start, "title": "T", "participants": "x"},
    ):
        assert (await api.post(url, json=bad)).status_code == 400, bad


async def test_activities_leave_and_mute(api: httpx.AsyncClient, ws: Workspace) -> None:
    assert (await api.post(f"/api/v3/chats/{Q2}/activities", json={"action": "typing"})).status_code == 204
    assert code_of(await api.post(f"/api/v3/chats/{Q2}/activities", json={"action": "dancing"})) == "invalid_inputs"
    assert code_of(await api.post(f"/api/v3/chats/{Q2}/mute", json={})) == "invalid_inputs"
    assert (await api.post(f"/api/v3/chats/{Q2}/mute")).status_code == 204
    muted = (await api.get("/api/v3/chats", params={"muted": "true", "chat_ids": Q2})).json()["chats"]
    assert [c["chat_id"] for c in muted] == [Q2] and "muted" not in muted[0]  # only the filter tells it
    assert (await api.post(f"/api/v3/chats/{Q2}/unmute")).status_code == 204 and not ws.chats[Q2].muted
    assert code_of(await api.post(f"/api/v3/chats/{ALICE_DM}/leave")) == "one_to_one_chat_leave_not_allowed"
    assert (await api.post(f"/api/v3/chats/{Q2}/leave")).status_code == 204
    assert (await api.get(f"/api/v3/chats/{Q2}")).status_code == 404
    assert (await api.put(f"/api/v3/chats/{Q2}", json={"operation": "close_chat"})).status_code == 404


async def test_unknown_paths_and_methods(api: httpx.AsyncClient) -> None:
    wrong = await api.patch(f"/api/v3/chats/{Q2}")
    assert wrong.status_code == 405 and "PUT" in wrong.headers["allow"]
    assert (await api.get("/api/v3/messages")).status_code == 404
    assert (await api.get("/api/v3/chats/")).status_code == 404


# --- throttling -------------------------------------------------------------------------------------


async def test_throttle_locks_for_the_documented_time() -> None:
    clock = FakeClock()
    ws = Workspace(clock=clock)
    async with client_for(ws) as api:
        for _ in range(30):
            assert (await api.get("/api/v3/chats", params={"limit": 1})).status_code == 200
        refused = await api.get("/api/v3/chats", params={"limit": 1})
        assert refused.status_code == 429 and "retry-after" not in refused.headers
        assert refused.json()["code"] == "rate_limit_exceeded"  # the chat operations' flat shape
        assert (await api.get(f"/api/v3/chats/{Q2}")).status_code == 200  # other operations still work
        clock.now += 9 * 60
        assert (await api.get("/api/v3/chats")).status_code == 429  # still locked
        clock.now += 61
        assert (await api.get("/api/v3/chats")).status_code == 200


async def test_throttle_field_report_style_and_unlocked_operations() -> None:
    clock = FakeClock()
    ws = Workspace(clock=clock, throttle_style="400")
    async with client_for(ws) as api:
        for _ in range(20):
            await api.post("/api/v3/chats/2971901296197152390/members", json={"user_ids": [RYAN]})
        refused = await api.post("/api/v3/chats/2971901296197152390/members", json={"user_ids": [RYAN]})
        assert refused.status_code == 400
        assert refused.json() == {
            "code": "request_limit_exceeded",
            "message": "You have exceeded the URL throttle limits.",
        }
        body = {"chat_type": "direct_message", "user_id": RYAN}
        for _ in range(30):
            assert (await api.post("/api/v3/chats", json=body)).status_code == 200
        assert (await api.post("/api/v3/chats", json=body)).status_code == 400
        clock.now += 61  # creating chats has no documented lock: the next minute is free again
        assert (await api.post("/api/v3/chats", json=body)).status_code == 200


# --- token endpoint ---------------------------------------------------------------------------------

REFRESH = {
    "grant_type": "refresh_token",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh",
}


async def test_refresh_token_flow_and_expiry() -> None:
    clock = FakeClock()
    ws = Workspace(clock=clock)
    async with client_for(ws, {}) as client:
        answer = await client.post("/oauth/v2/token", data=REFRESH)
        token = answer.json()
        assert answer.status_code == 200 and token["token_type"] == "Bearer" and token["expires_in"] == 3600
        assert token["api_domain"] == "https://www.zohoapis.com" and "refresh_token" not in token
        headers = {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}
        assert (await client.get("/api/v3/chats", headers=headers)).status_code == 200
        by_query = await client.post("/oauth/v2/token", params=REFRESH)
        assert "access_token" in by_query.json()
        clock.now += 3600
        assert (await client.get("/api/v3/chats", headers=headers)).status_code == 401


async def test_token_errors_are_http_200() -> None:
    ws = Workspace()
    async with client_for(ws, {}) as client:
        for params, error in (
            ({**REFRESH, "client_secret": "wrong"}, "invalid_client"),
            ({**REFRESH, "refresh_token": "wrong"}, "invalid_code"),
            ({**REFRESH, "grant_type": "password"}, "unsupported_grant_type"),
        ):
            response = await client.post("/oauth/v2/token", data=params)
            assert response.status_code == 200 and response.json() == {"error": error}
        for _ in range(10):
            assert "access_token" in (await client.post("/oauth/v2/token", data=REFRESH)).json()
        denied = await client.post("/oauth/v2/token", data=REFRESH)
        assert denied.status_code == 200 and denied.json()["error"] == "Access Denied"
        assert "too many requests" in denied.json()["error_description"]


async def test_authorization_code_and_revoke() -> None:
    ws = Workspace()
    code = ws.issue_auth_code()
    grant = {
        "grant_type": "authorization_code",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
    }
    async with client_for(ws, {}) as client:
        first = (await client.post("/oauth/v2/token", data={**grant, "code": code})).json()
        assert {"access_token", "refresh_token", "expires_in"} <= set(first)
        reused = await client.post("/oauth/v2/token", data={**grant, "code": code})
        assert reused.json() == {"error": "invalid_code"}
        headers = {"Authorization": f"Zoho-oauthtoken {first['access_token']}"}
        assert (await client.get("/api/v3/chats", headers=headers)).status_code == 200
        revoked = await client.post("/oauth/v2/token/revoke", params={"token": first["refresh_token"]})
        assert revoked.json() == {"status": "success"}
        again = await client.post("/oauth/v2/token", data={**REFRESH, "refresh_token": first["refresh_token"]})
        assert again.json() == {"error": "invalid_code"}
        assert (await client.get("/api/v3/chats", headers=headers)).status_code == 401


def test_seed_is_deterministic() -> None:
    assert list(Workspace().chats) == list(Workspace().chats)
    assert list(Workspace(seed=8).chats) != list(Workspace().chats)
    assert len(Workspace(extra_chats=0).chats) < 20
