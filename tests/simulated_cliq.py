"""The simulated Cliq as the tests see it: the sandbox's app behind a recorder and a fault queue.

``observed(workspace)`` wraps ``cliq_mcp.sandbox.create_app`` in an ASGI middleware that records every
request that reaches it (``workspace.requests``) and applies faults queued with ``workspace.inject``.
``serve_in_background`` serves that on a loopback socket, for the tests where a socket matters (dropped
connections, stalls and trickles as a real client sees them, subprocesses). None of this ships.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import uvicorn
from cliq_contract import answer_breaches, request_breaches
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from cliq_mcp import sandbox

FaultKind = Literal["status", "stall", "drop", "html", "trickle", "hook"]

# Set by the loopback server's uvicorn protocol: closing it drops the connection with no answer.
DROP_EXTENSION = "cliq_tests.drop"

_GATEWAY_PAGE = (
    "<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status} Bad Gateway</h1>"
    "</center><hr><center>ZGS</center></body></html>"
)

# Every Workspace made during the current test, so that a fault nobody triggered fails it (conftest).
made: list[Workspace] = []


class ConnectionDropped(Exception):
    """Raised for a ``drop`` fault when no real socket is there to close (in-process ASGI)."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    body: bytes
    json: Any | None
    form: dict[str, str] | None
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived (real time), for sliding windows


@dataclass(eq=False)
class Fault:
    """Answer the next ``times`` matching requests with ``kind`` instead of the sandbox's answer.

    ``stall`` waits ``seconds`` (by default until the client gives up) and then lets the request through;
    ``hook`` runs ``then`` (a change someone else makes in Cliq) and then lets the request through.
    """

    method: str | None
    path_prefix: str
    kind: FaultKind
    status: int = 500
    body: Any = None
    seconds: float = math.inf
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    taken: int = 0  # how many requests it was applied to
    abandoned: int = 0  # how many of those the client gave up on while this fault held them
    then: Callable[[], None] | None = None  # for ``hook``

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and path.startswith(self.path_prefix)


class Workspace(sandbox.Workspace):
    """The sandbox's workspace, plus what the tests observe of it: the request log and the fault queue."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []  # every fault injected, taken or not
        # Where a request that reached it, or its own answer, departs from Zoho's document (cliq_contract.py).
        self.request_breaches: list[str] = []
        self.answer_breaches: list[str] = []
        self._lock = threading.Lock()
        made.append(self)

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault for the next ``fault.times`` requests it matches."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.taken < fault.times and fault.matches(method, path):
                    fault.taken += 1
                    return fault
        return None

    def untaken(self) -> list[Fault]:
        """Faults that no request ever triggered: a test that injected one tested nothing with it."""
        return [fault for fault in self.faults if fault.taken == 0]


def observed(workspace: Workspace) -> ASGIApp:
    """The sandbox app for ``workspace``, recording each request and applying queued faults first."""
    app = sandbox.create_app(workspace)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        body = await _read_body(receive)
        recorded = _record(scope, body)
        workspace.requests.append(recorded)
        workspace.request_breaches += request_breaches(recorded.method, recorded.path, recorded.query, body)
        fault = workspace.take_fault(scope["method"], scope["path"])
        if fault is not None:
            if fault.kind == "drop":
                await _drop(scope, receive)
                return
            if fault.kind == "hook":
                assert fault.then is not None
                fault.then()
                await app(scope, _replay(body, receive), send)
                return
            if fault.kind in ("status", "html"):
                await _answer(fault, send)
                return
            try:
                if fault.kind == "trickle":
                    await _trickle(fault, send)
                    return
                if not await _stall(fault.seconds, receive):
                    fault.abandoned += 1
                    return  # the client gave up while we stalled
            except anyio.get_cancelled_exc_class():
                fault.abandoned += 1  # in-process: the client's task was cancelled while we held it
                raise
        await app(scope, _replay(body, receive), _checked(recorded, workspace, send))

    return middleware


def _checked(recorded: RecordedRequest, workspace: Workspace, send: Send) -> Send:
    """``send``, checking the simulated Cliq's own answer against the document once it is whole."""
    status, chunks = 0, []

    async def checking(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                found = answer_breaches(recorded.method, recorded.path, status, b"".join(chunks))
                workspace.answer_breaches += found
        await send(message)

    return checking


def _record(scope: Scope, body: bytes) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    parsed: Any | None = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    form: dict[str, str] | None = None
    if headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return RecordedRequest(
        method=scope["method"],
        path=scope["path"],
        raw_path=raw_path.split(b"?")[0].decode("latin-1"),
        query=query,
        body=body,
        json=parsed,
        form=form,
        headers=headers,
    )


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that hands the already-read body out again, then defers to the real one."""
    pending = True

    async def replayed() -> dict[str, Any]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replayed


async def _answer(fault: Fault, send: Send) -> None:
    """Send the canned answer of a ``status`` or ``html`` fault."""
    if fault.kind == "html":
        text = fault.body if isinstance(fault.body, str) else _GATEWAY_PAGE.format(status=fault.status)
        payload, content_type = text.encode(), "text/html; charset=utf-8"
    elif isinstance(fault.body, (dict, list)):
        payload, content_type = json.dumps(fault.body).encode(), "application/json"
    elif fault.body is None:
        payload, content_type = b"", "text/plain; charset=utf-8"
    else:
        text_body = fault.body if isinstance(fault.body, (str, bytes)) else str(fault.body)
        payload = text_body.encode() if isinstance(text_body, str) else text_body
        content_type = "text/plain; charset=utf-8"
    headers = {"content-type": content_type, "content-length": str(len(payload)), **fault.headers}
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": fault.status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def _trickle(fault: Fault, send: Send) -> None:
    """A 200 whose JSON body arrives one byte every ``seconds``: every read is quick, the answer never is."""
    payload = json.dumps(fault.body if fault.body is not None else {"chats": []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for index in range(len(payload)):
        await asyncio.sleep(fault.seconds)
        await send({"type": "http.response.body", "body": payload[index : index + 1], "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without an answer (over the loopback server); raise in-process."""
    extension = scope.get("extensions", {}).get(DROP_EXTENSION)
    if extension is None:
        raise ConnectionDropped("simulated Cliq fault: connection dropped without a response")
    extension["close"]()
    # Wait until the server has noticed, so it neither answers 500 nor logs a missing response.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), 5)


async def _stall(seconds: float, receive: Receive) -> bool:
    """Hold the request ``seconds``; return False early if the client goes away meanwhile."""
    sleeper = asyncio.ensure_future(asyncio.sleep(seconds if math.isfinite(seconds) else 3600))
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    try:
        done, _ = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, watcher):
            task.cancel()
        await asyncio.gather(sleeper, watcher, return_exceptions=True)
    return sleeper in done


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class _DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, handing the app a way to close the connection without answering.

    A plain ASGI app cannot do that (uvicorn answers 500 for it), so the ``drop`` fault needs this.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), DROP_EXTENSION: {"close": transport.close}}
            await inner(scope, receive, send)

        self.app = app


@contextlib.contextmanager
def serve_in_background(workspace: Workspace, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``observed(workspace)`` on a free loopback port in a daemon thread; yield its base URL."""
    # IPPROTO_TCP explicitly: asyncio only turns Nagle off for sockets it knows are TCP, and with Nagle
    # on, every loopback answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.bind((host, 0))
        config = uvicorn.Config(
            observed(workspace), host=host, port=0, http=_DroppingH11Protocol, ws="none", lifespan="off",
            proxy_headers=False, access_log=False, log_config=None, log_level="warning", timeout_graceful_shutdown=2,
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="cliq-sandbox", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the simulated Cliq did not start")
                time.sleep(0.002)
            yield f"http://{host}:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        sock.close()


class FakeTime:
    """A clock that moves only when told to, or when the code under test sleeps on it (instantly).

    One value serves as both the monotonic and the wall clock; ``slept`` lists every wait asked for.
    """

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()
