"""What the sandbox records of each request, and the faults it can be told to inject."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

FaultKind = Literal["status", "stall", "drop", "html", "trickle"]

# Set by the sandbox's uvicorn protocol (server.py): closing it drops the connection with no answer.
DROP_EXTENSION = "cliq_sandbox.drop"

_GATEWAY_PAGE = (
    "<html><head><title>{status} Bad Gateway</title></head><body><center><h1>{status} Bad Gateway</h1>"
    "</center><hr><center>ZGS</center></body></html>"
)


class ConnectionDropped(Exception):
    """Raised by the app for a ``drop`` fault when no real socket is there to close (in-process ASGI)."""


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


@dataclass
class Fault:
    method: str | None
    path_prefix: str
    kind: FaultKind
    status: int = 500
    body: Any = None
    seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and path.startswith(self.path_prefix)


def record(scope: Scope, body: bytes) -> RecordedRequest:
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


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive callable that hands the already-read body out again, then defers to the real one."""
    pending = True

    async def replayed() -> dict[str, Any]:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replayed


async def answer(fault: Fault, send: Send) -> None:
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


async def trickle(fault: Fault, send: Send) -> None:
    """A 200 whose JSON body arrives one byte every ``seconds``: every read is quick, the answer never is."""
    payload = json.dumps(fault.body if fault.body is not None else {"chats": []}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for index in range(len(payload)):
        await asyncio.sleep(fault.seconds)
        await send({"type": "http.response.body", "body": payload[index : index + 1], "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without an answer (over the sandbox's uvicorn); raise in-process."""
    extension = scope.get("extensions", {}).get(DROP_EXTENSION)
    if extension is None:
        raise ConnectionDropped("sandbox fault: connection dropped without a response")
    extension["close"]()
    # Wait until the server has noticed, so it neither answers 500 nor logs a missing response.
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), 5)


async def stall(seconds: float, receive: Receive) -> bool:
    """Sleep ``seconds``; return False early if the client goes away meanwhile."""
    sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    done, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return sleeper in done


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
