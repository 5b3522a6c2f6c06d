"""The guard, the audit log, the shared token and the run lease hold against a local user, a flaky or hostile
Zoho, and a model: every removal shown person by person, no token in a file others can read or in a header it
cannot be sent in, a lease lost means no more acts, nothing asked that cannot be put on record, redaction before
any cut. Each test was first written by an outside review as a failing test; its docstring describes the failure
it guards against (the "P" it was given, and the fix made)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import Cliq, env_for, guarded
from mcp import Client
from simulated_cliq import Fault, Workspace

from cliq_mcp.core.config import Settings

CREDENTIALS = {"CLIQ_CLIENT_ID": "sandbox-client", "CLIQ_CLIENT_SECRET": "sandbox-secret",
               "CLIQ_REFRESH_TOKEN": "sandbox-refresh"}  # fmt: skip


def refresh_env(url: str, state: Path, **extra: str) -> dict[str, str]:
    env = {**env_for(url, XDG_STATE_HOME=str(state)), **CREDENTIALS, **extra}
    del env["CLIQ_ACCESS_TOKEN"]
    return env


def used_token(workspace: Workspace) -> str:
    header = next(r.headers["authorization"] for r in workspace.requests if r.path.startswith("/api/"))
    return header.removeprefix("Zoho-oauthtoken ")


async def test_token_is_not_kept_in_a_state_file_others_can_read(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P1, secret leak. StateStore.put promises "where the store cannot keep it private, it is not kept", and the
    README says the token is kept owner-only in SQLite. SqliteStore opens an existing state file as it finds it
    (os.open with O_CREAT does not change an existing file's mode, and nothing narrows it, unlike the audit log's
    open_private_fd): a state file that is already readable by others (made by an older tool, restored from a
    backup, or a CLIQ_STATE_URL in a shared place) gets the account's live access token written into it in clear
    (and into its -wal file, which SQLite creates with the same mode). Any local user can then read the token.
    Fix: in SqliteStore._connect fchmod an existing file (and -wal/-shm) to 0600, or refuse to put() when the
    file or its directory is readable by others."""
    state = tmp_path / "cliq-mcp" / "state.sqlite3"
    state.parent.mkdir(mode=0o755)
    state.touch(mode=0o644)
    os.chmod(state, 0o644)
    async with Client(cliq.server(Settings.from_env(refresh_env(cliq.url, tmp_path)))) as client:
        assert (await client.call_tool("list_chats", {"limit": 1})).is_error is False
    token = used_token(workspace).encode()
    readable = [p for p in state.parent.iterdir() if p.stat().st_mode & stat.S_IROTH and token in p.read_bytes()]
    assert readable == [], f"the access token is in files every local user can read: {[p.name for p in readable]}"


@pytest.mark.real_now
def test_a_run_that_lost_its_lease_acts_no_more(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """P2, broken promise (one run per account across machines). A tidy run takes the account's lease once, at the
    start; _renew renews it every 30 s but ignores what lease() answers (another owner's seconds left) and swallows
    every CliqError, and _apply never checks the lease before an act. So when the lease lapses (the run's process
    was paused - a laptop lid, a stopped container - or the store was unreachable for two minutes) and another
    run on another machine takes it, this run goes on acting on its old plan alongside the new run: two runs of
    one account overlap, each spending its own max_acts, which is exactly what the lease is there to prevent.
    Fix: renew (lease() == 0) right before every act and stop the run (remaining acts not_sent, 'lost its lease')
    when it is not held; make _renew cancel the run when a renewal says another owner holds the lease or when
    renewals have failed for longer than the lease."""
    import sqlite3

    from test_tidy import NIGHTLY, closes, policy_file, tidy

    settings = guarded(cliq, tmp_path)
    lease = f"{settings.account}:tidy-run"
    db = str(Path(settings.guard.state_url or ""))
    taken: list[float] = []

    def paused_then_another_run_starts() -> None:
        cliq.time.advance(200)  # this run's process was stopped for 200 s: its 120 s lease lapsed
        with sqlite3.connect(db) as other:  # a run on another machine (same store) takes the free lease
            now = cliq.time()
            row = other.execute("SELECT value, until FROM kept WHERE key = ?", (lease,)).fetchone()
            assert row is not None and row[1] <= now, "the first run's lease should have lapsed"
            other.execute("INSERT OR REPLACE INTO kept (key, value, until) VALUES (?, ?, ?)",
                          (lease, "another run", now + 120))  # fmt: skip
        taken.append(now)

    workspace.inject(
        Fault(method="PUT", path_prefix="/api/v3/chats/", kind="hook", then=paused_then_another_run_starts)
    )
    _code, _report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=5))),
                           "--apply")  # fmt: skip
    assert taken, "the hook never ran"
    assert len(closes(workspace)) == 1, (
        f"after another run took the lease this run still closed {len(closes(workspace)) - 1} more chat(s)"
    )


async def test_the_approval_page_shows_every_person_and_the_chat_a_removal_covers(
    cliq: Cliq, workspace: Workspace
) -> None:
    """P1, a yes to something not seen. remove_chat_members takes up to 100 people, and its question names all
    of them in one sentence ("Remove N members: "name" <email> (id), ... from the group chat "X" (id)? ...").
    The approval page (guard/approval/page.py question_page) shows that sentence through clean(sentence,
    LINE_LIMIT=1000): with about 15 or more ordinary people the sentence is cut with "…", so the page the person
    approves on hides who else is removed AND which chat they are removed from, while the yes covers all of them.
    (The batch lines of close_chats are shown whole; this sentence is the one place a list is still cut.)
    Fix: give remove_chat_members one line per person (Question.lines), as close_chats has, and keep the
    sentence short ("Remove 20 members from the group chat "X" (id)?"); or never cut the heading."""
    from conftest import Q2

    from cliq_mcp.cliq.client import CliqClient
    from cliq_mcp.guard.approval.page import question_page
    from cliq_mcp.guard.questions import build_question
    from cliq_mcp.sandbox.state import User
    from cliq_mcp.tools.catalogue import BY_NAME
    from cliq_mcp.tools.inputs import parse_arguments

    people = [f"2000000{n:02d}" for n in range(20)]
    for n, user_id in enumerate(people):
        workspace.users[user_id] = User(user_id, f"Person Number{n:02d}", f"person.number{n:02d}@zylker.com")
        workspace.chats[Q2].members.append(user_id)
    op = BY_NAME["remove_chat_members"]
    request = parse_arguments(op.arguments, {"chat_id": Q2, "user_ids": people})
    client = CliqClient(cliq.settings(), transport=cliq.transport)
    question = await build_question(client, op, request.model_dump())
    await client.aclose()
    assert all(u in question.full for u in people) and Q2 in question.full  # the question itself is complete
    page = question_page("cliq-mcp", question.sentence, question.lines, "csrf", 300)
    hidden = [u for u in people if u not in page]
    assert Q2 in page and not hidden, (
        f"the page hides the chat ({Q2 not in page}) and {len(hidden)} of the {len(people)} people the yes removes"
    )


async def test_a_token_that_cannot_be_sent_is_not_kept_for_every_process(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P2, a flaky/hostile accounts server poisons the account for an hour. read_token_answer takes any non-blank
    string as the access token, and ZohoAuth._store puts it on the shelf for its whole lifetime. A token no HTTP
    request can carry (here with a line break; the same for any character h11 refuses in a header) makes every
    request fail locally with LocalProtocolError before it leaves: no 401 ever comes back, so nothing refreshes,
    and every process of the account adopts the same token from the store: every tool of every process fails
    for the token's lifetime (up to an hour), and 'cliq-mcp auth' or a restart does not help.
    Fix: in read_token_answer accept only a token of visible ASCII (RFC 6750 b64token / Zoho's 1000.x.y), else
    an AuthenticationError that is not kept; or drop a shelved token that fails to be sent."""
    env = refresh_env(cliq_socket.url, tmp_path)
    bad = {"access_token": "1000.tok\nen", "expires_in": 3600}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=bad))
    async with Client(cliq_socket.server(Settings.from_env(env))) as first:
        assert (await first.call_tool("list_chats", {"limit": 1})).is_error
    async with Client(cliq_socket.server(Settings.from_env(env))) as second:  # another process, later
        result = await second.call_tool("list_chats", {"limit": 1})
    assert result.is_error is False, result.content[0].text


async def test_a_write_h11_refused_to_send_is_not_may_have_been_applied(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P3, an untrue statement. client.send counts a request as having left once httpx's request hook fired; the
    hook fires before httpcore serialises the request, so a write that h11 refused to put on the wire
    (LocalProtocolError: here an Authorization header with a line break from the token endpoint) is reported as
    "Cliq closed the connection without an answer ... The change may or may not have been applied", and the
    audit line says failed, though no byte left. Fix: treat httpx.LocalProtocolError (and UnsupportedProtocol,
    which are raised before sending) like ConnectError: not sent."""
    from conftest import Q2, writes

    bad = {"access_token": "1000.tok\nen", "expires_in": 3600}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=bad))
    env = refresh_env(cliq_socket.url, tmp_path, CLIQ_GUARD="unattended", CLIQ_UNATTENDED_CHATS=Q2,
                      CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"))  # fmt: skip
    async with Client(cliq_socket.server(Settings.from_env(env))) as client:
        result = await client.call_tool("close_chat", {"chat_id": Q2})
    said = result.content[0].text
    assert writes(workspace) == []
    assert result.is_error and "may or may not have been applied" not in said, said


async def test_with_redis_and_no_guard_secret_zohos_throttle_is_still_remembered(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, redis_url: str
) -> None:
    """P2, broken promise. README: "a throttle by Zoho is remembered by every process until its window ends"
    (only the token itself is "not shared without" CLIQ_GUARD_SECRET). ZohoAuth._store remembers the throttle
    with shelf.put(key-blocked, "1"), and RedisStore.put silently keeps nothing without a guard secret (it
    seals every value, even this flag, which is no secret). So replicas on Redis without CLIQ_GUARD_SECRET (a
    single --workers server gets one, replicas on several machines need it set by hand) ask Zoho again during its
    block, each extending the refresh token's lock. Fix: keep non-secret values (the block) unsealed, or seal
    only the token; or require CLIQ_GUARD_SECRET with a Redis store."""
    too_many = {"error": "Access Denied", "error_description": "You have made too many requests"}
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=too_many,
                           times=2))  # fmt: skip
    settings = Settings.from_env(refresh_env(cliq.url, tmp_path, CLIQ_STATE_URL=redis_url))
    async with Client(cliq.server(settings)) as first:
        assert (await first.call_tool("list_chats", {"limit": 1})).is_error
    async with Client(cliq.server(settings)) as replica:  # another replica, a minute later
        cliq.time.advance(60)
        assert (await replica.call_tool("list_chats", {"limit": 1})).is_error
    asked = sum(r.path == "/oauth/v2/token" for r in workspace.requests)
    workspace.faults[0].times = max(workspace.faults[0].taken, 1)
    assert asked == 1, f"Zoho's token endpoint was asked {asked} times during its block"


async def test_a_sealed_token_is_bound_to_the_key_it_was_kept_under(redis_url: str) -> None:
    """P3, hardening. RedisStore seals with AES-GCM and a fixed associated data b"cliq-mcp", not the key name:
    a sealed value is accepted under any key. Whoever can write to Redis (the threat the seal is for) can copy
    account A's sealed token into account B's slot (same guard secret, e.g. one deployment serving two
    accounts, or two credentials of one org), and B's server then acts with A's token: a destructive act the
    person approved for a chat of B's would be sent as A. Fix: pass the key name as the associated data
    (AESGCM.encrypt(nonce, value, b"cliq-mcp|" + key)) and check it on unseal."""
    import redis.asyncio

    from cliq_mcp.core.state_store import RedisStore

    store = RedisStore(redis_url, key=b"guard-secret-0123456789")
    await store.put("account-a:token:aaaa", "1000.token-of-a", 120)
    raw = redis.asyncio.Redis.from_url(redis_url)
    await raw.set("cliq-mcp:kept:account-b:token:bbbb", await raw.get("cliq-mcp:kept:account-a:token:aaaa"), px=60000)
    await raw.aclose()
    moved = await store.get("account-b:token:bbbb")
    await store.aclose()
    assert moved is None, f"a value sealed for account A was accepted as account B's: {moved}"


async def test_a_token_fetch_given_up_on_does_not_hold_the_account_for_30_s(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P3, availability. ZohoAuth._must_fetch takes the account's fetch lease (30 s) and only _store releases
    it; when the token request itself fails or is given up on (a stall past CLIQ_TIMEOUT, a dropped connection,
    a cancelled call), httpx closes the auth flow at its yield and the lease stays held. Every call of every
    process of the account then waits for a fetch nobody is making: WAIT_FOR_OTHER_S (20 s) is longer than
    the per-attempt budget (CLIQ_TIMEOUT, 15 s by default), so for 30 s every tool fails with "Not sent:
    getting ready to send took too long", though the accounts server answers again at once.
    Fix: release the lease in a try/finally around the token request's yield in async_auth_flow (and keep
    WAIT_FOR_OTHER_S below the attempt budget)."""
    from cliq_mcp.serve.server import build_server

    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="stall"))
    settings = Settings.from_env(refresh_env(cliq.url, tmp_path, CLIQ_TIMEOUT="1"))
    async with Client(build_server(settings, transport=cliq.transport)) as client:  # real time: the budget is real
        first = await client.call_tool("list_chats", {"limit": 1})
        assert first.is_error and "Not sent" in first.content[0].text
        second = await client.call_tool("list_chats", {"limit": 1})  # the accounts server answers again now
    assert second.is_error is False, second.content[0].text


async def test_a_refused_writes_audit_line_is_redacted_before_it_is_cut(cliq: Cliq, tmp_path: Path) -> None:
    """P3, broken promise (Audit docstring: "every string is redacted, whole, before anything is cut").
    Guard.refused_input cuts the arguments' JSON to 500 characters (clean(..., 500)) before Audit._line
    redacts the line, so a secret straddling the cut is no longer matched and its first characters are written
    to the audit log. Fix: redact before clean() in refused_input (Redactor.redact, then cut)."""
    import json as _json

    from conftest import Q2, audit_lines

    secret = "guard-secret-0123456789"
    settings = guarded(cliq, tmp_path, CLIQ_GUARD_SECRET=secret)
    head = len(_json.dumps({"chat_id": Q2, "title": ""}, ensure_ascii=False)) - 2
    title = "x" * (490 - head) + secret + "y" * 300  # too long a title: refused, audited as given
    async with Client(cliq.server(settings)) as client:
        result = await client.call_tool("rename_chat", {"chat_id": Q2, "title": title})
    assert result.is_error
    (line,) = [a for a in audit_lines(tmp_path) if a["outcome"] == "invalid"]
    assert secret[:9] not in _json.dumps(line), (
        f"part of the secret is in the audit log: {line['arguments_given'][-20:]}"
    )


async def test_nobody_is_asked_when_the_audit_log_cannot_take_an_intent_line(
    cliq: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """P2, broken promise ("nobody is asked if the log is not writable"). Audit.writable() only opens the file;
    Audit.intent() must also write and fsync it. An audit log on a device (CLIQ_AUDIT_LOG=/dev/null, the way
    many people switch a log off) opens fine but cannot be fsynced (EINVAL): the person is asked, says yes, and
    only then is told "Not done: the audit log cannot be written" - the yes is wasted, and a tidy --apply
    (_barred uses writable() too) plans and then refuses every act. Worse, open_private_fd "narrows" the
    device's mode with fchmod: run as root (a container), CLIQ_AUDIT_LOG=/dev/null makes /dev/null 0600 for the
    whole machine. Fix: writable() should require a regular file (S_ISREG, else refuse) and try an fsync;
    open_private_fd must never fchmod anything but a regular file it owns."""
    from conftest import Q2, answering, writes

    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of the test's own
    os.chmod(device, 0o666)
    settings = Settings.from_env(env_for(cliq.url, CLIQ_AUDIT_LOG=str(device), XDG_STATE_HOME=str(tmp_path)))
    seen: list[object] = []
    async with Client(cliq.server(settings), elicitation_callback=answering("accept", {"confirm": True}, seen)) as c:
        result = await c.call_tool("close_chat", {"chat_id": Q2})
    assert result.is_error and writes(workspace) == []
    mode = stat.S_IMODE(os.stat(device).st_mode)
    assert seen == [] and mode == 0o666, f"asked {len(seen)} time(s) for a yes that could not act; device mode {mode:o}"


@pytest.mark.real_now
def test_another_local_user_cannot_stop_every_tidy_run(
    cliq: Cliq,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """P3, local denial of service. Without XDG_RUNTIME_DIR (cron, systemd system timers, ssh without a
    session manager: where tidy runs) the machine lock lives in the fixed, guessable /tmp/cliq-mcp-<uid>. Any
    other local user can create that directory first; _one_run_at_a_time then (rightly) will not use it, but
    refuses the run - every nightly tidy of that user fails for good with "the run lock cannot be made", with
    nothing the victim can do short of finding and removing another user's directory (it cannot).
    Fix: fall back to a directory the user alone controls (the state directory, ~/.cache/cliq-mcp), or to
    tempfile.mkdtemp-style unpredictable names recorded there; never to a fixed name in a shared directory."""
    from test_tidy import NIGHTLY, policy_file, tidy

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the machine's /tmp, for this test
    squatted = tmp_path / f"cliq-mcp-{os.getuid()}"
    squatted.mkdir(mode=0o755)
    os.chown(squatted, 65534, 65534)  # made first by another local user ("nobody")
    code, _report, err = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=5))))
    assert code != 2, err


@pytest.mark.real_now
def test_tidy_with_an_unknown_data_centre_is_refused_not_failed(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """P3, untrue exit status. tidy's contract: exit 2 "refused (the policy file or the settings)", 4 "failed
    (nothing could be planned: Cliq unreachable, or it refused the credentials)". A settings problem
    (Settings.problem, e.g. CLIQ_DC=europe) is only raised by ZohoAuth when the first request is made, so tidy
    reports "planning failed" and exits 4, telling a cron wrapper that Cliq was down when the configuration is
    wrong (and will stay wrong). Fix: in tidy.main refuse when settings.problem is set, as for missing
    credentials."""
    from test_tidy import NIGHTLY, policy_file

    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    args = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=5)))])
    env = {"CLIQ_DC": "europe", "CLIQ_ACCESS_TOKEN": "sandbox-token", "XDG_STATE_HOME": str(tmp_path),
           "CLIQ_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.problem is not None
    code = tidy_command.main(args, settings, cliq.transport, sleep=cliq.time.sleep, clock=cliq.time,
                             wall_clock=cliq.time)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}: {err.strip()[-160:]}"


def test_an_unknown_data_centre_does_not_block_explicit_urls() -> None:
    """P3, the advice given cannot work. Settings.from_env sets a problem for an unknown CLIQ_DC whose hint says
    "Use one of ..., or set CLIQ_API_BASE_URL and CLIQ_ACCOUNTS_URL", but it sets it even when both URLs are set
    (the data centre then decides nothing: settings.dc is only printed). A person who follows the hint keeps
    getting the same error from every tool. Fix: raise the problem only when CLIQ_DC is what chooses a URL."""
    settings = Settings.from_env(
        {
            "CLIQ_DC": "eu-west",
            "CLIQ_API_BASE_URL": "https://cliq.example/api/v3",
            "CLIQ_ACCOUNTS_URL": "https://accounts.example",
            "CLIQ_ACCESS_TOKEN": "x" * 20,
        }
    )
    assert settings.problem is None, settings.problem


def test_config_from_uvx_names_the_package_that_wrote_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """P3, supply chain. Run from any uv cache environment (`uvx cliq-mcp@0.1.0`, `uvx --from git+https://...`,
    `uvx --from ./checkout`), `cliq-mcp config` writes the command `uvx cliq-mcp`: whatever PyPI serves under that
    name, latest version, at every client start. The client config then runs code other than the code the
    person ran (an unpublished name can be registered by anyone; a published one can change), and that server
    gets the person's Cliq credentials (env, or the credentials file it is told to read). Fix: pin what ran:
    `uvx --from cliq-mcp==<__version__> cliq-mcp`, or the PEP 610 direct_url of the installed distribution."""
    from cliq_mcp import __version__
    from cliq_mcp.cli import host_config

    monkeypatch.setattr("sys.prefix", str(tmp_path / ".cache" / "uv" / "archive-v0" / "Xy12"))
    command, args = host_config.server_command()
    assert command == "uvx"
    # Pinned: this version from the index, or the very source it was installed from (here an editable checkout).
    source = str(Path(__file__).resolve().parent.parent)
    assert args[0] == "--from" and (args[1] == f"cliq-mcp=={__version__}" or args[1] == source), args
