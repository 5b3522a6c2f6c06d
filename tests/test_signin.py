"""`cliq-mcp auth`, `auth status` and `auth logout`, run as a person would, against the simulated Zoho on loopback.

Each command is the real `python -m cliq_mcp auth …` in a fresh HOME; the tests assert what reached the
simulated token endpoint, what was written (and with which mode), and that no secret was ever printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Cliq, api_calls
from mcp import Client, StdioServerParameters
from simulated_cliq import Workspace


def user_env(home: Path, url: str | None = None, **extra: str) -> dict[str, str]:
    """A person's environment: no CLIQ_* variables except those given, a temporary HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIQ_", "XDG_"))}
    env |= {"HOME": str(home), "CLIQ_AUDIT_LOG": "off"}
    if url:
        env |= {"CLIQ_ACCOUNTS_URL": url, "CLIQ_API_BASE_URL": f"{url}/api/v3"}
    return env | extra


def cliq(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cliq_mcp", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def secrets_in(workspace: Workspace) -> list[str]:
    """Every secret the simulated Zoho knows now: the client secret, refresh and access tokens, codes."""
    tokens = workspace.tokens
    return [tokens.client_secret, *tokens.refresh_tokens, *tokens.access_tokens, *tokens.codes]


def assert_nothing_secret(proc: subprocess.CompletedProcess[str], workspace: Workspace) -> None:
    shown = proc.stdout + proc.stderr
    leaked = [s for s in secrets_in(workspace) if s in shown]
    assert not leaked, shown


def token_requests(workspace: Workspace) -> list[dict[str, str]]:
    return [r.form or {} for r in workspace.requests if r.path == "/oauth/v2/token"]


def credentials(home: Path) -> Path:
    return home / ".config" / "cliq-mcp" / "credentials.json"


def sign_in(workspace: Workspace, url: str, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    code = workspace.issue_auth_code()
    flags = ("--dc", "com", "--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code)
    return cliq("auth", *flags, *extra, env=user_env(home, url))


def test_sign_in_exchanges_the_code_once_and_saves_an_owner_only_file(
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path
) -> None:
    code = workspace.issue_auth_code()
    proc = cliq(
        "auth", "--dc", "com", "--client-id", "sandbox-client", "--client-secret", "sandbox-secret", "--code", code,
        env=user_env(tmp_path, cliq_socket.url),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
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
        "api_base_url": f"{cliq_socket.url}/api/v3",  # overridden (CLIQ_API_BASE_URL), so kept
        "accounts_url": cliq_socket.url,
        "created": saved["created"],
    }
    assert datetime.fromisoformat(saved["created"]).tzinfo is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temporary file left behind
    # the one cheap check call, with the fresh access token
    (check,) = api_calls(workspace)
    (fresh,) = set(workspace.tokens.access_tokens) - {"sandbox-token"}
    assert (check.method, check.path, check.query) == ("GET", "/api/v3/chats", [("limit", "1")])
    assert check.headers["authorization"] == f"Zoho-oauthtoken {fresh}"
    assert "Signed in" in proc.stdout and f"saved to {path}; the server will use it without environment variables" in (
        proc.stdout
    )
    assert "sandbox-client" not in proc.stdout and "…ient" in proc.stdout  # the client id is masked
    assert_nothing_secret(proc, workspace)


def test_sign_in_asks_for_what_was_not_given(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    code = workspace.issue_auth_code()
    answers = f"eu\nsandbox-client\nsandbox-secret\n{code}\n"
    proc = cliq("auth", env=user_env(tmp_path, cliq_socket.url), stdin=answers)
    assert proc.returncode == 0, proc.stderr
    # the walk-through, for the chosen data centre, on stdout; the prompts on stderr
    assert "https://api-console.zoho.eu/" in proc.stdout
    assert "Self Client" in proc.stdout and "3 minutes" in proc.stdout
    assert "ZohoCliq.Chats.READ,ZohoCliq.Chats.CREATE,ZohoCliq.Chats.UPDATE,ZohoCliq.Chats.DELETE" in proc.stdout
    for prompt in ("Data centre", "Client ID:", "Client secret:", "Code:"):
        assert prompt in proc.stderr
    assert token_requests(workspace)[0]["code"] == code
    assert json.loads(credentials(tmp_path).read_text())["dc"] == "eu"
    assert_nothing_secret(proc, workspace)


def test_an_existing_file_is_replaced_owner_only(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    path = credentials(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    path.chmod(0o644)
    assert sign_in(workspace, cliq_socket.url, tmp_path).returncode == 0
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
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path, valid_for: float, secret: str, expected: str
) -> None:
    code = workspace.issue_auth_code(valid_for=valid_for)  # valid_for=0: already expired
    proc = cliq(
        "auth", "--dc", "com", "--client-id", "sandbox-client", "--client-secret", secret, "--code", code,
        env=user_env(tmp_path, cliq_socket.url),
    )  # fmt: skip
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert len(token_requests(workspace)) == 1  # exchanged once, never retried
    assert api_calls(workspace) == []
    assert not credentials(tmp_path).exists()
    assert secret not in proc.stdout + proc.stderr
    assert_nothing_secret(proc, workspace)


def test_status_reports_the_sign_in_and_checks_it(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    assert sign_in(workspace, cliq_socket.url, tmp_path).returncode == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    workspace.requests.clear()
    proc = cliq("auth", "status", env=user_env(tmp_path, cliq_socket.url))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"Credentials: file {credentials(tmp_path)}" in out
    assert "Data centre: com" in out
    assert f"API: {cliq_socket.url.removeprefix('http://')}" in out
    assert "Client id: …ient" in out and "sandbox-client" not in out
    assert "Access token: fresh, expires " in out and "(in 60 min)" in out
    assert "GET /chats?limit=1: HTTP 200" in out and "Working." in out
    (form,) = token_requests(workspace)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == refresh
    assert len(api_calls(workspace)) == 1
    assert_nothing_secret(proc, workspace)


def test_status_with_environment_credentials(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    env = user_env(
        tmp_path, cliq_socket.url, CLIQ_DC="eu", CLIQ_CLIENT_ID="sandbox-client",
        CLIQ_CLIENT_SECRET="sandbox-secret", CLIQ_REFRESH_TOKEN="sandbox-refresh",
    )  # fmt: skip
    proc = cliq("auth", "status", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Credentials: environment variables" in proc.stdout and "Data centre: eu" in proc.stdout
    assert_nothing_secret(proc, workspace)


def test_status_fails_clearly(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    nothing = cliq("auth", "status", env=user_env(tmp_path, cliq_socket.url))
    assert nothing.returncode == 1 and "Not signed in" in nothing.stdout and "cliq-mcp auth" in nothing.stdout
    assert workspace.requests == []

    assert sign_in(workspace, cliq_socket.url, tmp_path).returncode == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    workspace.tokens.revoke(refresh)  # e.g. revoked in Zoho's console
    proc = cliq("auth", "status", env=user_env(tmp_path, cliq_socket.url))
    assert proc.returncode == 1
    assert "revoked" in proc.stdout and "Not working." in proc.stdout
    assert_nothing_secret(proc, workspace)


async def test_the_server_uses_the_saved_file(
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path, era: str
) -> None:
    assert sign_in(workspace, cliq_socket.url, tmp_path).returncode == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    before = set(workspace.tokens.access_tokens)
    workspace.requests.clear()
    server = StdioServerParameters(command=sys.executable, args=["-m", "cliq_mcp"], env=user_env(tmp_path))
    async with Client(server, mode=era) as client:  # no CLIQ_* credentials nor URLs: all from the file
        result = await client.call_tool("list_chats", {"limit": 2})
    assert result.is_error is False, result.content
    (form,) = token_requests(workspace)
    assert (form["grant_type"], form["refresh_token"]) == ("refresh_token", refresh)
    (sent,) = api_calls(workspace)
    (fresh,) = set(workspace.tokens.access_tokens) - before  # minted by that refresh
    assert (sent.path, sent.headers["authorization"]) == ("/api/v3/chats", f"Zoho-oauthtoken {fresh}")


def test_a_chosen_credentials_file(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "cliq.json"
    proc = sign_in(workspace, cliq_socket.url, tmp_path, "--credentials-file", str(path))
    assert proc.returncode == 0, proc.stderr
    assert f"CLIQ_CREDENTIALS_FILE={path}" in proc.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not credentials(tmp_path).exists()
    status = cliq("auth", "status", "--credentials-file", str(path), env=user_env(tmp_path, cliq_socket.url))
    assert status.returncode == 0 and f"Credentials: file {path}" in status.stdout


def test_logout_revokes_and_deletes(workspace: Workspace, cliq_socket: Cliq, tmp_path: Path) -> None:
    assert sign_in(workspace, cliq_socket.url, tmp_path).returncode == 0
    refresh = json.loads(credentials(tmp_path).read_text())["refresh_token"]
    workspace.requests.clear()
    proc = cliq("auth", "logout", env=user_env(tmp_path, cliq_socket.url))
    assert proc.returncode == 0, proc.stderr
    (revoke,) = workspace.requests
    assert (revoke.method, revoke.path, revoke.query) == ("POST", "/oauth/v2/token/revoke", [("token", refresh)])
    assert workspace.tokens.refresh_tokens[refresh].revoked
    assert not credentials(tmp_path).exists()
    assert "was revoked" in proc.stdout
    assert_nothing_secret(proc, workspace)

    again = cliq("auth", "logout", env=user_env(tmp_path, cliq_socket.url))
    assert again.returncode == 0 and "already signed out" in again.stdout


def test_logout_deletes_the_file_even_when_revoking_fails(
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path
) -> None:
    path = credentials(tmp_path)
    path.parent.mkdir(parents=True)
    stale = "1000.0123456789abcdef.unknown-to-zoho"
    path.write_text(json.dumps({"dc": "com", "client_id": "c", "client_secret": "s", "refresh_token": stale}))
    proc = cliq("auth", "logout", env=user_env(tmp_path, cliq_socket.url))
    assert proc.returncode == 0, proc.stderr
    assert [r.path for r in workspace.requests] == ["/oauth/v2/token/revoke"]
    assert "could NOT be revoked" in proc.stdout and "deleted" in proc.stdout
    assert not path.exists()
    assert stale not in proc.stdout + proc.stderr


# Needs a pseudo-terminal (POSIX); the project is built and tested on Linux.
def test_at_a_terminal_the_secret_and_code_are_not_echoed(
    workspace: Workspace, cliq_socket: Cliq, tmp_path: Path
) -> None:
    import pty
    import select
    import time

    code = workspace.issue_auth_code()
    master, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "auth", "--dc", "com", "--client-id", "sandbox-client"],
        stdin=terminal, stdout=subprocess.PIPE, stderr=terminal, env=user_env(tmp_path, cliq_socket.url),
        start_new_session=True,
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
