"""`cliq-mcp auth`, `auth status` and `auth logout`, run in-process through the CLI's `main`.

The simulated Zoho (accounts server and Cliq API) answers in-process through `httpx.ASGITransport`; the
environment is the mapping a test passes, in a temporary HOME. The tests assert what reached the simulated
Zoho, what was written (and with which mode), what was printed, and that no secret was ever printed. Only
the no-echo prompt at a terminal needs a real process (and a pseudo-terminal).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import Cliq, api_calls
from mcp import Client
from simulated_cliq import Fault, Workspace, observed

from cliq_mcp.cli.main import main
from cliq_mcp.core.config import Settings
from cliq_mcp.serve.server import build_server

URL = "http://zoho.test"  # any host: the transport hands every request to the simulated Zoho in-process
TOO_MANY = {"error": "Access Denied", "error_description": "You have made too many requests continuously."}
EXPIRED = {"message": "Request was rejected because of invalid AuthToken."}


@dataclass(frozen=True)
class Ran:
    code: int
    out: str  # stdout: what the person reads
    err: str  # stderr: prompts and errors

    @property
    def shown(self) -> str:
        return self.out + self.err


Auth = Callable[..., Ran]


def user_env(home: Path, url: str | None = URL, **extra: str) -> dict[str, str]:
    """A person's environment: a HOME, the simulated Zoho's URLs (unless url=None), and what is given."""
    env = {"HOME": str(home)}
    if url:
        env |= {"CLIQ_ACCOUNTS_URL": url, "CLIQ_API_BASE_URL": f"{url}/api/v3"}
    return env | extra


@pytest.fixture
def transport(workspace: Workspace) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=observed(workspace))


@pytest.fixture
def auth(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, transport: httpx.ASGITransport) -> Auth:
    """Run `cliq-mcp auth ARGS` with ``env``, answering its prompts from ``stdin`` (a pipe, not a terminal)."""

    def run(*args: str, env: Mapping[str, str], stdin: str = "") -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()  # only this command's output
        code = main(["auth", *args], env=env, transport=transport)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def secrets_in(workspace: Workspace) -> list[str]:
    """Every secret the simulated Zoho knows now: the client secret, refresh and access tokens, codes."""
    tokens = workspace.tokens
    return [tokens.client_secret, *tokens.refresh_tokens, *tokens.access_tokens, *tokens.codes]


def assert_nothing_secret(ran: Ran, workspace: Workspace) -> None:
    leaked = [s for s in secrets_in(workspace) if s in ran.shown]
    assert not leaked, ran.shown


def token_requests(workspace: Workspace) -> list[dict[str, str]]:
    return [r.form or {} for r in workspace.requests if r.path == "/oauth/v2/token"]


def credentials(home: Path) -> Path:
    return home / ".config" / "cliq-mcp" / "credentials.json"


def sign_in(auth: Auth, workspace: Workspace, home: Path, *extra: str) -> Ran:
    code = workspace.issue_auth_code()
    flags = ("--dc", "com", "--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code)
    return auth(*flags, *extra, env=user_env(home))


def test_sign_in_exchanges_the_code_once_and_saves_an_owner_only_file(
    auth: Auth, workspace: Workspace, tmp_path: Path
) -> None:
    code = workspace.issue_auth_code()
    ran = auth(
        "--dc", "com", "--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code,
        env=user_env(tmp_path),
    )  # fmt: skip
    assert ran.code == 0, ran.shown
    assert token_requests(workspace) == [
        {"grant_type": "authorization_code", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
         "code": code},
    ]  # fmt: skip
    path = credentials(tmp_path)
    saved = json.loads(path.read_text())
    (refresh,) = set(workspace.tokens.refresh_tokens) - {"sandbox-refresh"}
    assert saved == {
        "dc": "com",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "refresh_token": refresh,
        "api_base_url": f"{URL}/api/v3",  # overridden (CLIQ_API_BASE_URL), so kept
        "accounts_url": URL,
        "created": saved["created"],
    }
    assert datetime.fromisoformat(saved["created"]).tzinfo is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temporary file left behind
    # the one cheap check call, with the fresh access token, sent as the server sends its requests
    (check,) = api_calls(workspace)
    (fresh,) = set(workspace.tokens.access_tokens) - {"sandbox-token"}
    assert (check.method, check.path, check.query) == ("GET", "/api/v3/chats", [("limit", "1")])
    assert check.headers["authorization"] == f"Zoho-oauthtoken {fresh}"
    assert check.headers["user-agent"] == "cliq-mcp"
    assert "Signed in" in ran.out and "check call: HTTP 200, chats can be read" in ran.out
    assert f"saved to {path}; the server will use it without environment variables" in ran.out
    assert "sandbox-client" not in ran.out and "…ient" in ran.out  # the client id is masked
    assert ran.err == ""
    assert_nothing_secret(ran, workspace)


def test_sign_in_asks_for_what_was_not_given(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    code = workspace.issue_auth_code()
    ran = auth(env=user_env(tmp_path), stdin=f"eu\nsandbox-client\nsandbox-secret\n{code}\n")
    assert ran.code == 0, ran.shown
    # the walk-through, for the chosen data centre, on stdout; the prompts on stderr
    assert "https://api-console.zoho.eu/" in ran.out
    assert "Self Client" in ran.out and "3 minutes" in ran.out
    assert "ZohoCliq.Chats.READ,ZohoCliq.Chats.CREATE,ZohoCliq.Chats.UPDATE,ZohoCliq.Chats.DELETE" in ran.out
    for prompt in ("Data centre", "Client ID:", "Client secret:", "Code:"):
        assert prompt in ran.err
    (form,) = token_requests(workspace)
    assert (form["client_id"], form["client_secret"], form["code"]) == ("sandbox-client", "sandbox-secret", code)
    assert json.loads(credentials(tmp_path).read_text())["dc"] == "eu"
    assert_nothing_secret(ran, workspace)  # piped answers are not echoed back


def test_sign_in_without_an_answer_stops_before_any_request(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    ran = auth("--dc", "com", "--client-id", "sandbox-client", env=user_env(tmp_path), stdin="")
    assert ran.code == 1 and "cliq-mcp auth: no client secret given" in ran.err
    assert workspace.requests == [] and not credentials(tmp_path).exists()


def test_an_existing_file_is_replaced_owner_only(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    path = credentials(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)
    assert sign_in(auth, workspace, tmp_path).code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["client_id"] == "sandbox-client"


@pytest.mark.parametrize(
    ("valid_for", "secret", "expected"),
    [
        (0.0, "sandbox-secret", "the code is wrong or expired (codes last 3 minutes): generate a new one"),
        (180.0, "wrong-secret", "the client id or client secret is wrong"),
    ],
)
def test_a_refused_code_is_reported_and_nothing_is_saved(
    auth: Auth, workspace: Workspace, tmp_path: Path, valid_for: float, secret: str, expected: str
) -> None:
    code = workspace.issue_auth_code(valid_for=valid_for)  # valid_for=0: already expired
    ran = auth(
        "--dc", "com", "--client-id", "sandbox-client", "--client-secret", secret, "--code", code,
        env=user_env(tmp_path),
    )  # fmt: skip
    assert ran.code == 1
    assert expected in ran.err
    assert len(token_requests(workspace)) == 1  # exchanged once, never retried
    assert api_calls(workspace) == []
    assert not credentials(tmp_path).exists()
    assert secret not in ran.shown
    assert_nothing_secret(ran, workspace)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=TOO_MANY),
         "too many token requests in the last 10 minutes; wait a few minutes"),
        (Fault(method="POST", path_prefix="/oauth/v2/token", kind="html", status=200),
         "zoho.test answered HTTP 200 without a token; try again shortly"),
        (Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=503, body=None),
         "zoho.test answered HTTP 503 without a token; try again shortly"),
    ],
    ids=["too-many-requests", "gateway-page", "503"],
)  # fmt: skip
def test_a_failed_token_exchange_is_explained_and_not_repeated(
    auth: Auth, workspace: Workspace, tmp_path: Path, fault: Fault, expected: str
) -> None:
    workspace.inject(fault)
    ran = sign_in(auth, workspace, tmp_path)
    assert ran.code == 1 and expected in ran.err
    assert len(token_requests(workspace)) == 1 and api_calls(workspace) == []
    assert not credentials(tmp_path).exists()
    assert_nothing_secret(ran, workspace)


@pytest.mark.parametrize(
    ("scopes", "fault", "expected"),
    [
        ({"ZohoCliq.Chats.CREATE"}, None, "HTTP 403"),
        (None, Fault(method="GET", path_prefix="/api/v3/chats", kind="status", status=401, body=EXPIRED),
         "Cliq rejected the access token (HTTP 401)"),
    ],
    ids=["403-no-read-scope", "401"],
)  # fmt: skip
def test_a_failed_check_call_is_reported_with_the_servers_error(
    auth: Auth, workspace: Workspace, tmp_path: Path, scopes: set[str] | None, fault: Fault | None, expected: str
) -> None:
    code = workspace.issue_auth_code(frozenset(scopes)) if scopes else workspace.issue_auth_code()
    if fault:
        workspace.inject(fault)
    ran = auth(
        "--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code, env=user_env(tmp_path)
    )
    assert ran.code == 1
    assert "Saved the credentials" in ran.out and "the check call GET /chats?limit=1 failed" in ran.out
    assert expected in ran.out
    if scopes:
        assert "lacks ZohoCliq.Chats.READ: generate a code with all four scopes" in ran.out
    else:
        assert "same data centre" in ran.out
    assert "auth status" in ran.out
    assert len(api_calls(workspace)) == 1  # a refused check is not retried
    assert json.loads(credentials(tmp_path).read_text())["client_id"] == "sandbox-client"  # kept, to check later
    assert_nothing_secret(ran, workspace)


def test_status_reports_the_sign_in_and_checks_it(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    assert sign_in(auth, workspace, tmp_path).code == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    before = set(workspace.tokens.access_tokens)
    workspace.requests.clear()
    ran = auth("status", env=user_env(tmp_path))
    assert ran.code == 0, ran.shown
    assert f"Credentials: file {credentials(tmp_path)}" in ran.out
    assert "Data centre: com" in ran.out
    assert "API: zoho.test (http://zoho.test/api/v3)" in ran.out
    assert "Client id: …ient" in ran.out and "sandbox-client" not in ran.out
    assert "Access token: fresh, expires " in ran.out and "(in 60 min)" in ran.out
    assert "GET /chats?limit=1: HTTP 200" in ran.out and "Working." in ran.out
    (form,) = token_requests(workspace)  # one refresh, and the check uses its token: no second one
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == refresh
    (check,) = api_calls(workspace)
    (fresh,) = set(workspace.tokens.access_tokens) - before  # minted by that refresh
    assert check.headers["authorization"] == f"Zoho-oauthtoken {fresh}"
    assert_nothing_secret(ran, workspace)


def test_status_with_environment_credentials(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    env = user_env(
        tmp_path, CLIQ_DC="eu", CLIQ_CLIENT_ID="sandbox-client",
        CLIQ_CLIENT_SECRET="sandbox-secret", CLIQ_REFRESH_TOKEN="sandbox-refresh",
    )  # fmt: skip
    ran = auth("status", env=env)
    assert ran.code == 0, ran.shown
    assert "Credentials: environment variables" in ran.out and "Data centre: eu" in ran.out
    assert token_requests(workspace)[0]["refresh_token"] == "sandbox-refresh"
    assert_nothing_secret(ran, workspace)


def test_status_with_a_fixed_access_token(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    ran = auth("status", env=user_env(tmp_path, CLIQ_ACCESS_TOKEN="sandbox-token"))
    assert ran.code == 0, ran.shown
    assert "Client id: (none: a fixed access token)" in ran.out and "expiry not known" in ran.out
    assert token_requests(workspace) == []
    (check,) = api_calls(workspace)
    assert check.headers["authorization"] == "Zoho-oauthtoken sandbox-token"
    assert_nothing_secret(ran, workspace)


def test_status_reads_an_expiry_in_milliseconds(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    answer = {"access_token": "sandbox-token", "expires_in": 3_600_000}  # above a day: milliseconds
    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="status", status=200, body=answer))
    env = user_env(
        tmp_path, CLIQ_CLIENT_ID="sandbox-client", CLIQ_CLIENT_SECRET="sandbox-secret",
        CLIQ_REFRESH_TOKEN="sandbox-refresh",
    )  # fmt: skip
    ran = auth("status", env=env)
    assert ran.code == 0, ran.shown
    assert "(in 60 min)" in ran.out and "Working." in ran.out


def test_status_fails_clearly(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    nothing = auth("status", env=user_env(tmp_path))
    assert nothing.code == 1 and "Not signed in" in nothing.out and "cliq-mcp auth" in nothing.out
    assert workspace.requests == []

    assert sign_in(auth, workspace, tmp_path).code == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    workspace.tokens.revoke(refresh)  # e.g. revoked in Zoho's console
    workspace.requests.clear()
    ran = auth("status", env=user_env(tmp_path))
    assert ran.code == 1
    assert "revoked" in ran.out and "Not working." in ran.out
    assert len(token_requests(workspace)) == 1 and api_calls(workspace) == []
    assert_nothing_secret(ran, workspace)

    workspace.inject(Fault(method="POST", path_prefix="/oauth/v2/token", kind="html", status=200))
    garbled = auth("status", env=user_env(tmp_path))
    assert garbled.code == 1 and "without a token; try again shortly" in garbled.out


def test_only_the_given_environment_is_read(
    auth: Auth, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIQ_ACCESS_TOKEN", "sandbox-token")  # this process's environment has credentials...
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    ran = auth("status", env={"HOME": str(tmp_path)})  # ...the mapping the command was given has none
    assert ran.code == 1 and "Not signed in" in ran.out
    assert workspace.requests == []


@pytest.fixture
def signed_in(auth: Auth, workspace: Workspace, tmp_path: Path) -> str:
    """Sign in (in a synchronous fixture: the command runs its own event loop); the saved refresh token."""
    assert sign_in(auth, workspace, tmp_path).code == 0
    return str(json.loads(credentials(tmp_path).read_text())["refresh_token"])


async def test_the_server_uses_the_saved_file(
    signed_in: str, workspace: Workspace, transport: httpx.ASGITransport, tmp_path: Path, era: str
) -> None:
    before = set(workspace.tokens.access_tokens)
    workspace.requests.clear()
    settings = Settings.from_env({"HOME": str(tmp_path)})  # no CLIQ_* credentials nor URLs: all from the file
    async with Client(build_server(settings, transport=transport), mode=era) as client:
        result = await client.call_tool("list_chats", {"limit": 2})
    assert result.is_error is False, result.content
    (form,) = token_requests(workspace)
    assert (form["grant_type"], form["refresh_token"]) == ("refresh_token", signed_in)
    (sent,) = api_calls(workspace)
    (fresh,) = set(workspace.tokens.access_tokens) - before  # minted by that refresh
    assert (sent.path, sent.headers["authorization"]) == ("/api/v3/chats", f"Zoho-oauthtoken {fresh}")


def test_a_chosen_credentials_file(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "cliq.json"
    ran = sign_in(auth, workspace, tmp_path, "--credentials-file", str(path))
    assert ran.code == 0, ran.shown
    assert f"CLIQ_CREDENTIALS_FILE={path}" in ran.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not credentials(tmp_path).exists()
    status = auth("status", "--credentials-file", str(path), env=user_env(tmp_path))
    assert status.code == 0 and f"Credentials: file {path}" in status.out


def test_sign_in_notes_environment_credentials_that_win_over_the_file(
    auth: Auth, workspace: Workspace, tmp_path: Path
) -> None:
    code = workspace.issue_auth_code()
    env = user_env(tmp_path, CLIQ_REFRESH_TOKEN="sandbox-refresh")
    ran = auth("--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code, env=env)
    assert ran.code == 0, ran.shown
    assert "Note: CLIQ_REFRESH_TOKEN set in this environment" in ran.out


def test_logout_revokes_and_deletes(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    assert sign_in(auth, workspace, tmp_path).code == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    workspace.requests.clear()
    ran = auth("logout", env=user_env(tmp_path))
    assert ran.code == 0, ran.shown
    (revoke,) = workspace.requests
    assert (revoke.method, revoke.path, revoke.query) == ("POST", "/oauth/v2/token/revoke", [("token", refresh)])
    assert workspace.tokens.refresh_tokens[refresh].revoked
    assert not credentials(tmp_path).exists()
    assert "was revoked" in ran.out
    assert_nothing_secret(ran, workspace)

    again = auth("logout", env=user_env(tmp_path))
    assert again.code == 0 and "already signed out" in again.out


def test_logout_deletes_the_file_even_when_revoking_fails(auth: Auth, workspace: Workspace, tmp_path: Path) -> None:
    path = credentials(tmp_path)
    path.parent.mkdir(parents=True)
    stale = "1000.0123456789abcdef.unknown-to-zoho"
    path.write_text(json.dumps({"dc": "com", "client_id": "c", "client_secret": "s", "refresh_token": stale}))
    ran = auth("logout", env=user_env(tmp_path))
    assert ran.code == 0, ran.shown
    assert [r.path for r in workspace.requests] == ["/oauth/v2/token/revoke"]
    assert "could NOT be revoked" in ran.out and "deleted" in ran.out
    assert not path.exists()
    assert stale not in ran.shown


# The one test that needs a real process: getpass turns echo off on the process's terminal, so this gives
# the child a pseudo-terminal (POSIX; the project is built and tested on Linux) and reads what it showed;
# the child reaches the simulated Zoho on loopback (conftest's cliq_socket).
def test_at_a_terminal_the_secret_and_code_are_not_echoed(
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path
) -> None:
    cliq_url = cliq_socket.url
    import pty
    import select
    import time

    code = workspace.issue_auth_code()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIQ_", "XDG_"))} | user_env(tmp_path, cliq_url)
    master, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "auth", "--dc", "com", "--client-id", "sandbox-client"],
        stdin=terminal, stdout=subprocess.PIPE, stderr=terminal, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    shown = b""

    def answer(prompt: bytes, text: str) -> None:
        nonlocal shown
        deadline = time.monotonic() + 30
        while prompt not in shown and time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                shown += os.read(master, 1024)
        assert prompt in shown, shown
        os.write(master, text.encode() + b"\n")

    try:
        answer(b"Client secret:", "sandbox-secret")
        answer(b"Code:", code)
        out, _ = proc.communicate(timeout=60)
        with contextlib.suppress(OSError):  # what the terminal showed after the answers
            while select.select([master], [], [], 0.2)[0]:
                shown += os.read(master, 1024)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0, out
    assert b"sandbox-secret" not in shown and code.encode() not in shown
    assert token_requests(workspace)[0]["client_secret"] == "sandbox-secret"
    assert json.loads(credentials(tmp_path).read_text())["client_id"] == "sandbox-client"
