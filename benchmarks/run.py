"""One run, one machine: cliq-mcp against the bare-SDK reference server and raw httpx.

Both servers are spawned over stdio exactly as an MCP host spawns them and talk to the simulated Cliq
workspace on a loopback socket. Measurements of the two servers are interleaved (round-robin in a
shuffled order) so machine noise hits both alike. Nothing here asserts a time: targets are reported as
met / NOT met. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from benchmarks import tasks
from cliq_mcp.sandbox import Workspace, create_app

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
CHAT = "2890538000000099999"  # the seed's "Q2 Product Review" group chat
TOKEN = "sandbox-token"
SERVERS = {"cliq-mcp": ["-m", "cliq_mcp"], "reference": [str(ROOT / "benchmarks" / "reference_server.py")]}
ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25 handshake"}
PAGE_MAX = 100


@dataclass(frozen=True)
class Plan:
    calls: int  # measured get_chat calls per server per era
    warmup: int
    starts: int  # cold starts per server per era
    http_connections: int = 32  # HTTP load: persistent connections, one request in flight on each
    http_warmup: float = 2.0  # HTTP load: seconds of load before each measured window
    http_seconds: float = 8.0  # HTTP load: the measured window, per run
    http_rounds: int = 2  # HTTP load: rounds of HTTP_RUNS (one worker, two, two), in alternation


FULL = Plan(calls=1000, warmup=100, starts=15)
QUICK = Plan(calls=40, warmup=5, starts=2, http_connections=8, http_warmup=0.5, http_seconds=1.5, http_rounds=1)
HTTP_WORKERS = (1, 2)


@dataclass
class Report:
    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)  # target, measured, limit, met
    sections: list[str] = field(default_factory=list)
    tasks: str = ""  # the everyday tasks' table (benchmarks/tasks.py)

    def target(self, name: str, measured: str, limit: str, met: bool) -> None:
        self.rows.append((name, measured, limit, met))
        print(f"  {'met    ' if met else 'NOT met'}  {name}: {measured} (target {limit})", flush=True)

    def section(self, title: str, header: list[str], rows: list[list[str]], note: str = "") -> None:
        lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        self.sections.append("\n".join([*lines, *(["", note] if note else []), ""]))
        print("\n".join(lines[2:]), flush=True)


# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Seen:
    """One request that reached the simulated Cliq: what the walk counts."""

    method: str
    path: str
    query: list[tuple[str, str]]


@contextlib.contextmanager
def loopback(workspace: Workspace) -> Iterator[tuple[str, list[Seen]]]:
    """The sandbox app on a loopback socket, in a daemon thread; yields the base URL and the request log.

    uvicorn binds host/port itself, so asyncio's ``create_server`` sets TCP_NODELAY on accepted connections
    (a socket made with proto 0 would leave Nagle on, and each answer would wait ~40 ms for a delayed ACK).
    """
    app, seen = create_app(workspace), []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            seen.append(Seen(scope["method"], scope["path"], query))
        await app(scope, receive, send)

    config = uvicorn.Config(
        recording, host="127.0.0.1", port=0, lifespan="off", ws="none",
        access_log=False, log_config=None, log_level="warning",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="cliq-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Cliq sandbox did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", seen
    finally:
        server.should_exit = True
        thread.join(10)


def children() -> set[int]:
    """Pids of this process's children (from /proc: the SDK's stdio client does the spawning)."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == me:
                    found.add(int(entry))
    return found


def memory_kb(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def cpu_ms(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def tree_rss_kb(root: int) -> int:
    """VmRSS of ``root`` and all its descendants (a uvicorn parent and its workers)."""
    total = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, RuntimeError):
            total += memory_kb(pid)
    return total


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers anything but a server error (bounded: about 30 s)."""
    for _ in range(300):
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[94]


def nbytes(value: Any) -> int:
    """Bytes of a value as compact UTF-8 JSON (how the SDK writes it on the wire), or of a str itself."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode())


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}×" if theirs else "n/a"


class Servers:
    """Spawns the servers as an MCP host does: ``StdioServerParameters``, env, cwd = repo root."""

    def __init__(self, url: str, errlog: IO[str]) -> None:
        self.env = {
            "CLIQ_API_BASE_URL": f"{url}/api/v3",
            "CLIQ_ACCESS_TOKEN": TOKEN,
            "CLIQ_AUDIT_LOG": "off",
            "CLIQ_PACING": "off",  # like Workspace(rate_limits=False): no per-minute limits in a benchmark
        }
        self.errlog = errlog

    def params(self, server: str) -> StdioServerParameters:
        return StdioServerParameters(command=sys.executable, args=SERVERS[server], env=self.env, cwd=str(ROOT))

    @contextlib.asynccontextmanager
    async def connect(self, server: str, era: str) -> AsyncIterator[Connection]:
        before = children()
        spawned = time.perf_counter()
        async with Client(stdio_client(self.params(server), errlog=self.errlog), mode=era) as client:
            yield Connection(client, spawned, before)


@dataclass
class Connection:
    client: Client
    spawned: float  # perf_counter() right before the spawn
    before: set[int]  # this process's children before the spawn

    @functools.cached_property
    def pid(self) -> int:
        """The server's pid: the one new child of this process (the SDK's stdio client spawned it)."""
        new = children() - self.before
        if len(new) != 1:
            raise RuntimeError(f"expected one new server process, found {sorted(new)}")
        return new.pop()


def text_of(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


# ----------------------------------------------------------------------------------------- measurements


async def latency_and_memory(servers: Servers, url: str, plan: Plan, report: Report) -> None:
    """get_chat over stdio: every (server, era) client open at once, called round-robin in shuffled order."""
    order = random.Random(20260728)
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[tuple[str, str], Connection] = {}
        for era in ERAS:
            for server in SERVERS:
                clients[server, era] = await stack.enter_async_context(servers.connect(server, era))
                await clients[server, era].client.list_tools()  # as a host does; also primes the client's schemas
                assert clients[server, era].pid
        http = await stack.enter_async_context(httpx.AsyncClient(headers={"Authorization": f"Zoho-oauthtoken {TOKEN}"}))
        samples: dict[tuple[str, str], list[float]] = {key: [] for key in [*clients, ("httpx", "floor")]}
        keys = list(samples)
        cpu: dict[tuple[str, str], float] = {}
        gc.collect()
        gc.freeze()  # this (client) process's own collections stay short instead of landing on random calls
        for round_ in range(plan.warmup + plan.calls):
            if round_ == plan.warmup:
                cpu = {key: cpu_ms(c.pid) for key, c in clients.items()}
            order.shuffle(keys)
            for key in keys:
                started = time.perf_counter()
                if key[0] == "httpx":
                    response = await http.get(f"{url}/api/v3/chats/{CHAT}")
                    failure = "" if response.status_code == 200 else f"HTTP {response.status_code}"
                else:
                    result = await clients[key].client.call_tool("get_chat", {"chat_id": CHAT})
                    failure = "" if not result.is_error and CHAT in text_of(result) else text_of(result)[:300]
                elapsed = time.perf_counter() - started
                if failure:
                    raise RuntimeError(f"get_chat failed on {key} in round {round_}: {failure}")
                if round_ >= plan.warmup:
                    samples[key].append(elapsed * 1000)
        gc.unfreeze()
        rss = {key: (memory_kb(c.pid), memory_kb(c.pid, "VmHWM")) for key, c in clients.items()}
        cpu = {key: (cpu_ms(c.pid) - cpu[key]) / plan.calls for key, c in clients.items()}

    floor = median(samples["httpx", "floor"])
    rows = [["raw httpx GET (floor)", "-", f"{floor:.2f}", f"{p95(samples['httpx', 'floor']):.2f}", "-", "-", "-"]]
    for era in ERAS:
        for server in SERVERS:
            xs = samples[server, era]
            stats = [median(xs), p95(xs), median(xs) - floor, cpu[server, era]]
            rows.append([server, era, *(f"{x:.2f}" for x in stats), ""])
        ours, ref = samples["cliq-mcp", era], samples["reference", era]
        paired = median([a / b for a, b in zip(ours, ref, strict=True)])  # same round: the same background load
        rows[-2][6] = f"median {ratio(median(ours), median(ref))}, p95 {ratio(p95(ours), p95(ref))}, " + (
            f"paired per round {paired:.2f}×, over floor {ratio(median(ours) - floor, median(ref) - floor)}, "
            f"server CPU {ratio(cpu['cliq-mcp', era], cpu['reference', era])}"
        )
    report.section(
        f"get_chat latency over stdio ({plan.calls} calls each, after {plan.warmup} warm-up calls, interleaved)",
        ["client → server", "era", "median ms", "p95 ms", "median − floor ms", "server CPU ms/call", "÷ reference"],
        rows,
        "Latency includes the client side (the SDK client also validates cliq-mcp's structuredContent against its"
        " outputSchema; the reference has none). Paired per round: the median of (cliq-mcp ÷ reference) over rounds,"
        " each pair measured within milliseconds, so least affected by other load on the machine. Server CPU: utime +"
        " stime of the server process over the measured calls, from /proc (10 ms ticks, so coarse in --quick runs).",
    )
    for era, label in ERAS.items():
        ours, ref = samples["cliq-mcp", era], samples["reference", era]
        for stat, fn in (("median", median), ("p95", p95)):
            r = fn(ours) / fn(ref)
            report.target(
                f"get_chat latency {stat}, {label}",
                f"{fn(ours):.2f} ms vs {fn(ref):.2f} ms = {r:.2f}×",
                "≤ 1.15× reference",
                r <= 1.15,
            )

    rows = []
    for era in ERAS:
        for server in SERVERS:
            now, peak = rss[server, era]
            rows.append([server, era, f"{now / 1024:.1f}", f"{peak / 1024:.1f}"])
    report.section(
        f"Resident memory of the server process after {plan.warmup + plan.calls} get_chat calls",
        ["server", "era", "VmRSS MiB", "VmHWM (peak) MiB"],
        rows,
    )
    for era, label in ERAS.items():
        ours, ref = rss["cliq-mcp", era][0], rss["reference", era][0]
        report.target(
            f"RSS after {plan.warmup + plan.calls} calls, {label}",
            f"{ours / 1024:.1f} MiB vs {ref / 1024:.1f} MiB = {ours / ref:.2f}×",
            "≤ 1.25× reference",
            ours / ref <= 1.25,
        )


async def cold_starts(servers: Servers, plan: Plan, report: Report) -> None:
    """Spawn → tools/list answered, alternating servers and eras; the server's RSS at that moment too."""
    times: dict[tuple[str, str], list[float]] = {(s, e): [] for e in ERAS for s in SERVERS}
    rss: dict[tuple[str, str], list[int]] = {key: [] for key in times}
    keys = list(times)
    order = random.Random(7)
    for round_ in range(plan.starts + 1):  # round 0 warms the OS file cache and is not counted
        order.shuffle(keys)
        for key in keys:
            async with servers.connect(*key) as connection:
                tools = (await connection.client.list_tools()).tools
                elapsed = time.perf_counter() - connection.spawned
                if not tools:
                    raise RuntimeError(f"{key} listed no tools")
                if round_:
                    times[key].append(elapsed * 1000)
                    rss[key].append(memory_kb(connection.pid))
    rows = []
    for era in ERAS:
        for server in SERVERS:
            xs = times[server, era]
            rows.append([server, era, f"{median(xs):.0f}", f"{min(xs):.0f}", f"{max(xs):.0f}",
                         f"{median(rss[server, era]) / 1024:.1f}"])  # fmt: skip
    report.section(
        f"Cold start: spawn → tools/list answered ({plan.starts} runs each, interleaved, after one warm-up round)",
        ["server", "era", "median ms", "min ms", "max ms", "RSS then, MiB"],
        rows,
    )
    for era, label in ERAS.items():
        ours, ref = median(times["cliq-mcp", era]), median(times["reference", era])
        report.target(
            f"cold start (median), {label}",
            f"{ours:.0f} ms vs {ref:.0f} ms = {ours / ref:.2f}×",
            "≤ 1.15× reference",
            ours / ref <= 1.15,
        )


def tools_list_as_served(params: StdioServerParameters) -> list[dict[str, Any]]:
    """The tools array exactly as the server writes it (raw JSON-RPC over stdio, handshake era)."""
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")} | (params.env or {})
    with subprocess.Popen(
        [params.command, *params.args], cwd=params.cwd, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the server closed stdout before answering tools/list")
            answer = json.loads(line)
            if answer.get("id") == 2:
                proc.stdin.close()
                proc.wait(10)
                return list(answer["result"]["tools"])


MODEL_FACING = ("name", "description", "inputSchema")


def tools_list_size(servers: Servers, report: Report) -> None:
    ours, ref = (tools_list_as_served(servers.params(s)) for s in SERVERS)
    size, ref_size = nbytes(ours), nbytes(ref)
    parts: dict[str, int] = {}
    for tool in ours:
        for key, value in tool.items():
            parts[key] = parts.get(key, 0) + nbytes(value) + len(key) + 4  # "key": value,
    rows = [[key, str(n), f"{n / size:.0%}"] for key, n in sorted(parts.items(), key=lambda kv: -kv[1])]
    biggest = sorted(ours, key=nbytes, reverse=True)
    report.section(
        f"tools/list: cliq-mcp {len(ours)} tools, {size} bytes (~{size // 4} tokens at 4 bytes/token); "
        f"reference {len(ref)} tool, {ref_size} bytes",
        ["part of cliq-mcp's tools (all tools)", "bytes", "share"],
        rows,
        "Largest tools: " + ", ".join(f"{t['name']} {nbytes(t)} B" for t in biggest[:6]) + ".",
    )
    report.target(
        "whole tools/list (JSON of the tools array)",
        f"{size} bytes ≈ {size // 4} tokens ({len(ours)} tools; {size / len(ours):.0f} B a tool)",
        "≤ 8 KB (8192 bytes)",
        size <= 8192,
    )
    # What a model reads of each tool: its name, description and input schema (output schemas and annotations
    # are for programs and hosts). Issue 12: ≤ 12 KB for the 22 tools of that day with every parameter
    # described, plus at most 450 bytes for each tool added since.
    facing = [{k: t[k] for k in MODEL_FACING if k in t} for t in ours]
    facing_size = nbytes(facing)
    budget = 12 * 1024 + 450 * max(0, len(ours) - 22)
    undescribed = sum(
        1 for t in ours for p in t["inputSchema"].get("properties", {}).values() if not p.get("description")
    )
    report.target(
        "model-facing tools/list (name, description, inputSchema)",
        f"{facing_size} bytes ≈ {facing_size // 4} tokens ({len(ours)} tools; {undescribed} parameters undescribed)",
        f"≤ 12 KB + 450 B per tool beyond 22 ({budget} bytes), every parameter described",
        facing_size <= budget and undescribed == 0,
    )


async def answer_sizes_and_walks(
    servers: Servers, url: str, workspace: Workspace, seen_at_cliq: list[Seen], report: Report
) -> None:
    headers = {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=f"{url}/api/v3/", headers=headers) as http,
        servers.connect("cliq-mcp", "auto") as connection,
    ):
        client = connection.client
        await client.list_tools()
        rows = []
        for tool, path in (("list_chats", "chats"), ("search_chats", "chats/search")):
            raw = await http.get(path, params={"limit": PAGE_MAX})
            raw.raise_for_status()
            result = await client.call_tool(tool, {"limit": PAGE_MAX})
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {text_of(result)}")
            text, structured = nbytes(text_of(result)), nbytes(result.structured_content)
            whole = nbytes(result.model_dump(mode="json", by_alias=True, exclude_none=True))
            chats, raw_bytes = len(result.structured_content["chats"]), len(raw.content)
            rows.append([tool, str(chats), f"GET /{path}?limit=100: {raw_bytes}", str(text), str(structured),
                         str(text + structured), f"{(text + structured) / raw_bytes:.1%}",
                         f"{text / raw_bytes:.1%} / {structured / raw_bytes:.1%}", str(whole)])  # fmt: skip
            # What the model reads is the text; structuredContent is the same data for programs. Both are
            # judged, so the results say plainly which representation meets the target.
            report.target(
                f"{tool} answer for {chats} chats, text the model reads",
                f"{text} bytes = {text / raw_bytes:.1%} of the raw page ({raw_bytes} B)",
                "≤ 15 % of the raw page",
                text / raw_bytes <= 0.15,
            )
            report.target(
                f"{tool} answer for {chats} chats, text + structuredContent",
                f"{text + structured} bytes = {(text + structured) / raw_bytes:.1%} of the raw page ({raw_bytes} B)",
                "≤ 15 % of the raw page",
                (text + structured) / raw_bytes <= 0.15,
            )
        report.section(
            "Answer sizes for 100 chats (bytes, UTF-8)",
            ["tool", "chats", "raw API page", "text", "structured", "text + structured", "÷ raw",
             "text ÷ raw / structured ÷ raw", "whole result JSON"],
            rows,
            "Token estimate: bytes / 4 (tiktoken is not installed).",
        )  # fmt: skip

        total = len(workspace.my_chats())
        fewest = math.ceil(total / PAGE_MAX)
        rows = []
        for label, first in (("list_chats, default arguments", {}), ("list_chats, limit=100", {"limit": PAGE_MAX})):
            before, seen = len(seen_at_cliq), 0
            started = time.perf_counter()
            arguments: dict[str, Any] = dict(first)
            for _ in range(total + 1):  # a page per chat at most; more means the walk does not end
                result = await client.call_tool("list_chats", arguments)
                if result.is_error:
                    raise RuntimeError(f"list_chats failed: {text_of(result)}")
                seen += len(result.structured_content["chats"])
                token = result.structured_content.get("next_token")
                if not token:
                    break
                arguments = {**first, "next_token": token}
            elapsed = time.perf_counter() - started
            sent = [r for r in seen_at_cliq[before:] if r.method == "GET" and r.path == "/api/v3/chats"]
            limits = sorted({value for r in sent for key, value in r.query if key == "limit"})
            rows.append([label, str(seen), str(len(sent)), ",".join(limits) or "(none sent)", f"{elapsed * 1000:.0f}"])
            report.target(
                f"full walk of {total} chats, {label}",
                f"{len(sent)} requests (page size {','.join(limits) or 'API default'}), {elapsed * 1000:.0f} ms",
                f"{fewest} requests (ceil({total}/{PAGE_MAX}))",
                len(sent) == fewest and seen == total,
            )
        started, pages, params = time.perf_counter(), 0, {"limit": str(PAGE_MAX)}
        while pages <= total:
            body = (await http.get("chats", params=params)).json()
            pages += 1
            if "next_token" not in body:
                break
            params = {"limit": str(PAGE_MAX), "next_token": body["next_token"]}
        rows.append(["raw httpx, limit=100", str(total), str(pages), str(PAGE_MAX),
                     f"{(time.perf_counter() - started) * 1000:.0f}"])  # fmt: skip
        report.section(
            f"Full walk of the workspace's {total} open chats (requests counted at the simulated Cliq)",
            ["walk", "chats seen", "GET /chats requests", "limit sent", "wall ms"],
            rows,
        )


# ---------------------------------------------------------------------------------------------- report


GET_CHAT_CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                 "params": {"name": "get_chat", "arguments": {"chat_id": CHAT}}}  # fmt: skip


def http_request(port: int) -> bytes:
    """The one request the load sends, as bytes: a stateless JSON-RPC ``tools/call`` POST, HTTP/1.1 keep-alive."""
    body = json.dumps(GET_CHAT_CALL, separators=(",", ":")).encode()
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


def http_response(buffer: bytearray) -> tuple[int, int, bytes] | None:
    """The first whole response in ``buffer`` as (bytes it takes, status, body), or None while incomplete.
    Only what the load needs: the status line and either Content-Length or a chunked body (no trailers)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head, start = bytes(buffer[:end]).lower(), end + 4
    status = int(head[9:12])
    at = head.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = head.find(b"\r\n", at + 2)
        total = start + int(head[at + 17 : stop if stop >= 0 else None])
        return (total, status, bytes(buffer[start:total])) if len(buffer) >= total else None
    if b"\r\ntransfer-encoding: chunked" not in head:
        raise RuntimeError(f"an answer without a length: {head[:200]!r}")
    chunks: list[bytes] = []
    at = start
    while True:
        line = buffer.find(b"\r\n", at)
        if line < 0:
            return None
        size = int(bytes(buffer[at:line]).split(b";")[0], 16)
        if size == 0:
            return (line + 4, status, b"".join(chunks)) if len(buffer) >= line + 4 else None
        if len(buffer) < line + 2 + size + 2:
            return None
        chunks.append(bytes(buffer[line + 2 : line + 2 + size]))
        at = line + 2 + size + 2


def answered_ok(status: int, body: bytes) -> bool:
    """HTTP 200 carrying a tool result that is not an error (no JSON-RPC ``"error"`` object either)."""
    return status == 200 and b'"isError":false' in body and b'"error":{' not in body


class HTTPLoad:
    """A closed loop over persistent connections: each sends the same pre-built request bytes again as soon as
    the last answer is whole. Counts and times the answers completed while ``measuring``; counts every bad
    answer or lost connection, warm-up and drain included."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.running, self.measuring = True, False
        self.latencies: list[float] = []
        self.answers = self.errors = 0
        self.open: set[HTTPConnection] = set()
        self.closed = asyncio.Event()

    def answered(self, ok: bool, started: float, now: float) -> None:
        self.answers += 1
        self.errors += not ok
        if self.measuring:
            self.latencies.append((now - started) * 1000)

    def gone(self, connection: HTTPConnection, clean: bool) -> None:
        self.errors += not clean
        self.open.discard(connection)
        if not self.open:
            self.closed.set()


class HTTPConnection(asyncio.Protocol):
    def __init__(self, load: HTTPLoad) -> None:
        self.load, self.buffer, self.started, self.closing = load, bytearray(), 0.0, False
        self.transport: asyncio.Transport | None = None
        self.first = asyncio.Event()  # set by the first whole answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.load.open.add(self)
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(self.load.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (answer := http_response(self.buffer)) is not None:
            now = time.perf_counter()
            taken, status, body = answer
            del self.buffer[:taken]
            self.load.answered(answered_ok(status, body), self.started, now)
            self.first.set()
            if self.load.running:
                self.send()
            else:
                self.closing = True
                assert self.transport is not None
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.first.set()  # nothing more will come: whoever waits for the first answer goes on (an error counted)
        self.load.gone(self, clean=self.closing)


def tree_pids(root: int) -> set[int]:
    """``root`` and all its descendants (a uvicorn supervisor and its workers), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def tree_cpu_ms(root: int) -> float:
    total = 0.0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            total += cpu_ms(pid)
    return total


def machine_busy_ms() -> float:
    """CPU time the whole machine spent busy (user, nice, system, irq, softirq: all processes), /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) * 1000 / os.sysconf("SC_CLK_TCK")


def connections_per_process(root: int, port: int) -> list[int]:
    """How many established connections to ``port`` each process of ``root``'s tree holds (largest first):
    the kernel hands each new connection to whichever worker accepts it first."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(f"socket:[{fields[9]}]")
    counts = []
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            held = 0
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    held += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
            counts.append(held)
    return sorted((c for c in counts if c), reverse=True)


OPENINGS = {  # how the load generator opens its connections
    "one by one": "each after the one before got its first answer, as clients arriving over time",
    "all at once": "in one burst, as a single client with a connection pool might",
}


@dataclass
class LoadRun:
    workers: int
    opening: str  # a key of OPENINGS
    spread: list[int]  # connections held by each worker
    answers: int  # completed in the measured window
    seconds: float
    p50: float
    p99: float
    errors: int  # bad answers and lost connections over the whole run (warm-up and drain included)
    total: int  # answers over the whole run
    server_cores: float  # CPU time of the server's process tree / wall time, over the window
    client_cores: float  # the same for this (load-generating) process
    machine_cores: float  # the same for the whole machine
    rss_before: int
    rss_after: int


async def load_run(port: int, root: int, workers: int, opening: str, plan: Plan) -> LoadRun:
    """Open ``plan.http_connections`` (as ``opening`` says), warm up, then measure ``plan.http_seconds``."""
    load, loop = HTTPLoad(http_request(port)), asyncio.get_running_loop()

    async def connect() -> HTTPConnection:
        return (await loop.create_connection(lambda: HTTPConnection(load), "127.0.0.1", port))[1]

    if opening == "all at once":
        await asyncio.gather(*(connect() for _ in range(plan.http_connections)))
    else:
        for _ in range(plan.http_connections):
            await asyncio.wait_for((await connect()).first.wait(), 30)
    await asyncio.sleep(plan.http_warmup)
    spread, rss_before = connections_per_process(root, port), tree_rss_kb(root)
    cpu = (tree_cpu_ms(root), time.process_time() * 1000, machine_busy_ms())
    started, load.measuring = time.perf_counter(), True
    await asyncio.sleep(plan.http_seconds)
    load.measuring, seconds = False, time.perf_counter() - started
    used = (tree_cpu_ms(root) - cpu[0], time.process_time() * 1000 - cpu[1], machine_busy_ms() - cpu[2])
    load.running = False
    await asyncio.wait_for(load.closed.wait(), 30)  # every connection closes after its last answer
    rss_after = tree_rss_kb(root)
    lat = load.latencies
    server, client, busy = (ms / 1000 / seconds for ms in used)
    p99 = statistics.quantiles(lat, n=100, method="inclusive")[98]
    return LoadRun(workers, opening, spread, len(lat), seconds, median(lat), p99, load.errors, load.answers,
                   server, client, busy, rss_before, rss_after)  # fmt: skip


@contextlib.contextmanager
def http_server(workers: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`cliq-mcp --sandbox --transport http --workers N`: each worker embeds its own simulated Cliq, unthrottled."""
    port, home = free_port(), tempfile.mkdtemp(prefix="cliq-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIQ_")}
    env |= {"HOME": home, "XDG_STATE_HOME": f"{home}/state", "CLIQ_AUDIT_LOG": "off", "CLIQ_PACING": "off",
            "CLIQ_SANDBOX_RATE_LIMITS": "off", "CLIQ_GUARD": "elicit"}  # fmt: skip
    args = ["-m", "cliq_mcp", "--sandbox", "--transport", "http", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", server)
        yield port, server
    finally:
        server.terminate()
        server.wait(timeout=30)


HTTP_RUNS = ((1, "one by one"), (2, "one by one"), (2, "all at once"))  # (workers, opening), each round


async def http_load(plan: Plan, report: Report) -> None:
    """`cliq-mcp --transport http --workers N` for N in ``HTTP_WORKERS``, both started first, then measured in
    alternation (``HTTP_RUNS``, ``plan.http_rounds`` times) so that drifting machine load hits both alike."""
    load_average = os.getloadavg()[0]
    runs: list[LoadRun] = []
    with contextlib.ExitStack() as stack:
        servers = {n: stack.enter_context(http_server(n)) for n in HTTP_WORKERS}
        for _ in range(plan.http_rounds):
            for n, opening in HTTP_RUNS:
                port, server = servers[n]
                runs.append(await load_run(port, server.pid, n, opening, plan))
                print(f"  workers {n}, {opening}: {runs[-1]}", flush=True)
    rows = [
        [str(i), str(r.workers), r.opening, " + ".join(map(str, r.spread)), str(r.answers),
         f"{r.answers / r.seconds:.0f}", f"{r.p50:.1f}", f"{r.p99:.1f}", f"{r.errors} of {r.total}",
         f"{r.server_cores:.2f}", f"{r.client_cores:.2f}", f"{r.machine_cores:.2f}", f"{r.rss_before / 1024:.1f}",
         f"{r.rss_after / 1024:.1f}"]
        for i, r in enumerate(runs, 1)
    ]  # fmt: skip

    def rates(workers: int, opening: str) -> list[float]:
        return [r.answers / r.seconds for r in runs if (r.workers, r.opening) == (workers, opening)]

    one = rates(1, "one by one")
    verdicts = []
    for opening in OPENINGS:
        two = rates(2, opening)
        verdicts.append(
            f"Two workers ÷ one, connections opened {opening}: {ratio(median(two), median(one))} (medians: "
            f"{median(two):.0f} vs {median(one):.0f} requests/s; every such two-worker run above every one-worker "
            f"run: {'yes' if min(two) > max(one) else 'no'})."
        )
        print(f"  {verdicts[-1]}", flush=True)
    report.section(
        "HTTP transport under load: `cliq-mcp --sandbox --transport http --workers N`",
        ["run", "workers", "connections opened", "connections per worker", "requests", "requests/s", "p50 ms",
         "p99 ms", "errors (whole run)", "server CPU, cores", "load generator CPU, cores", "machine busy, cores",
         "RSS before, MiB", "RSS after, MiB"],
        rows,
        " ".join(verdicts) + f" A closed loop of {plan.http_connections} persistent HTTP/1.1 connections, each "
        "sending the same pre-built stateless `tools/call get_chat` POST again as soon as the last answer is whole "
        "(asyncio protocols, no HTTP client library). Connections opened "
        + "; or ".join(f"{k}: {v}" for k, v in OPENINGS.items())
        + " (the kernel gives each new connection to whichever worker accepts first, and a worker accepts all "
        "that are waiting). Answers are counted and timed over "
        f"{plan.http_seconds:g} s after a {plan.http_warmup:g} s warm-up; an error is anything but HTTP 200 with "
        "`\"isError\":false` and no JSON-RPC error, or a lost connection. Both servers run throughout (the idle "
        "one waits) and runs alternate. Each worker embeds its own simulated Cliq (`--sandbox`, "
        "`CLIQ_SANDBOX_RATE_LIMITS=off`), so its CPU is in the server's; `CLIQ_PACING=off`, "
        "`CLIQ_GUARD=elicit`. CPU columns: utime + stime over the measured window ÷ its length (server: the "
        "whole process tree; machine: /proc/stat, every process, other work included). RSS: the server's whole "
        "process tree before the window and after the drain (with 2 workers: uvicorn's supervisor, "
        "multiprocessing's resource tracker and both workers). Load average (1 min) at the start of this "
        f"section: {load_average:.2f}.",
    )  # fmt: skip


def machine() -> list[tuple[str, str]]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")  # fmt: skip
    mem = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "cliq_mcp"], capture_output=True, text=True
    )
    return [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
        ("RAM", f"{int(mem) / 1024 / 1024:.1f} GiB"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("mcp / httpx / pydantic", f"{version('mcp')} / {version('httpx')} / {version('pydantic')}"),
        (
            "cliq-mcp",
            f"git {git.stdout.strip() or '?'}" + (" + uncommitted changes in cliq_mcp/" if dirty.stdout else ""),
        ),
    ]


def write(report: Report, plan: Plan, quick: bool, seconds: float, load: tuple[float, float], path: Path) -> None:
    met = sum(row[3] for row in report.rows)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m benchmarks{' --quick' if quick else ''}` ({seconds:.0f} s). "
        "cliq-mcp vs the bare-SDK reference server (`benchmarks/reference_server.py`) vs raw httpx, in one run,"
        " against the simulated Cliq on loopback. What and how: [README.md](README.md).",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine()],
        f"| run | {plan.calls} calls per server per era (+{plan.warmup} warm-up), {plan.starts} cold starts each |",
        f"| load average (1 min), start → end | {load[0]:.2f} → {load[1]:.2f} (other work on the machine) |",
        "",
        f"## Targets: {met} of {len(report.rows)} met",
        "",
        "| target | measured | limit | |",
        "|---|---|---|---|",
        *[f"| {n} | {m} | {lim} | {'met' if ok else '**NOT met**'} |" for n, m, lim, ok in report.rows],
        "",
        "## Everyday tasks (deterministic: `python -m benchmarks.tasks` alone gives the same table)",
        "",
        tasks.START,
        report.tasks,
        tasks.END,
        "",
        "## Details",
        "",
        *report.sections,
    ]
    path.write_text("\n".join(lines))
    print(f"\nwrote {path}")


async def run(plan: Plan) -> Report:
    report = Report()
    workspace = Workspace(rate_limits=False)
    with loopback(workspace) as (url, seen_at_cliq), tempfile.TemporaryFile("w+") as errlog:
        servers = Servers(url, errlog)
        try:
            print("== tools/list size", flush=True)
            tools_list_size(servers, report)
            print("== answer sizes and full walks", flush=True)
            await answer_sizes_and_walks(servers, url, workspace, seen_at_cliq, report)
            print("== cold start", flush=True)
            await cold_starts(servers, plan, report)
            print("== per-call latency and memory", flush=True)
            await latency_and_memory(servers, url, plan, report)
            print("== HTTP transport under load", flush=True)
            await http_load(plan, report)
            print("== everyday tasks", flush=True)
            report.tasks = tasks.table(await tasks.measure())
        except BaseException:
            errlog.seek(0)
            print("server stderr (last 3000 characters):\n" + errlog.read()[-3000:], file=sys.stderr)
            raise
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few iterations (CI smoke run, well under a minute)")
    parser.add_argument("--output", type=Path, help=f"results file (default: {RESULTS.relative_to(ROOT)}; "
                        "--quick writes none unless given)")  # fmt: skip
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started, load = time.perf_counter(), os.getloadavg()[0]
    report = asyncio.run(run(plan))
    seconds = time.perf_counter() - started
    met = sum(row[3] for row in report.rows)
    print(f"\n{met} of {len(report.rows)} targets met in {seconds:.0f} s")
    output = args.output or (None if args.quick else RESULTS)
    if output is not None:
        write(report, plan, args.quick, seconds, (load, os.getloadavg()[0]), output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
