"""``cliq-mcp auth``: sign in with a Zoho Self Client, check the sign-in (``status``), sign out (``logout``).

Writes the credentials file that ``config.stored_credentials`` reads, with ``private_files``. Secrets are
read without echo and never printed; the client id shows only its last 4 characters. Output for people goes
to stdout; prompts and errors go to stderr.

Nothing here reads ``os.environ``: each command gets the environment as a mapping, and an httpx transport
(``None``: the network) that carries the token requests and, through ``CliqClient``, the check call.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
from pydantic import SecretStr

from cliq_mcp.cliq.auth import TokenAnswer, TokenRefused, read_token_answer, refresh_grant, token_request
from cliq_mcp.cliq.client import CliqClient
from cliq_mcp.core.config import DATA_CENTRES, Settings, credentials_path
from cliq_mcp.core.errors import AuthenticationError, CliqError, ConfigurationError, PermissionDenied, Throttled
from cliq_mcp.core.private_files import write_private
from cliq_mcp.tools.catalogue import BY_NAME

SCOPES = "ZohoCliq.Chats.READ,ZohoCliq.Chats.CREATE,ZohoCliq.Chats.UPDATE,ZohoCliq.Chats.DELETE"
USERS_SCOPE = "ZohoCliq.Users.READ"  # optional: find_people's better source
TIMEOUT_S = 15.0
CHECK = BY_NAME["list_chats"]  # the check call: GET /chats?limit=1, paced and mapped as the server's
ENV_CREDENTIALS = ("CLIQ_ACCESS_TOKEN", "CLIQ_REFRESH_TOKEN")  # either makes the server ignore the file
CODE_ERRORS = {
    "invalid_code": "the code is wrong or expired (codes last 3 minutes): generate a new one",
    "invalid_client": "the client id or client secret is wrong, or the client is in another data centre (--dc)",
}
REFRESH_ERRORS = {
    "invalid_code": "the refresh token is wrong or was revoked: run `cliq-mcp auth` to sign in again",
    "invalid_client": "the client id or client secret is wrong, or the client is in another data centre",
}


class Failure(Exception):
    """A step failed; the message is safe to print (it never holds a secret)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = sub.add_parser(
        "auth",
        help="sign in to Zoho Cliq with a Self Client and save the credentials (also: auth status, auth logout)",
        description="Walks you through Zoho's Self Client sign-in, exchanges the code once for a refresh token "
        "and saves it (readable only by you) where the server finds it without environment variables.",
    )
    # SUPPRESS: no default, so the same flags given before `auth` (cliq-mcp --dc eu auth) are not overwritten.
    auth.add_argument("--dc", default=argparse.SUPPRESS, help=f"data centre: {', '.join(DATA_CENTRES)}")
    auth.add_argument("--client-id", help="the Self Client's client id")
    auth.add_argument("--client-secret", help="the client secret (prompted without echo if not given)")
    auth.add_argument("--code", help="the generated code (prompted without echo if not given)")
    auth.add_argument("--accounts-url", default=argparse.SUPPRESS, help="override the accounts server")
    auth.add_argument("--api-base-url", default=argparse.SUPPRESS, help="override the Cliq API base")
    auth.add_argument("--credentials-file", help="where to save (default: $CLIQ_CREDENTIALS_FILE or ~/.config)")
    auth.set_defaults(run=_signin)
    actions = auth.add_subparsers(dest="auth_action", metavar="{status,logout}")
    for name, run, text in (
        ("status", _status, "check the saved (or CLIQ_*) credentials with one token refresh and one read"),
        ("logout", _logout, "revoke the refresh token and delete the credentials file"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--credentials-file", default=argparse.SUPPRESS, help="the credentials file to use")
        action.set_defaults(run=run)


# --- helpers -----------------------------------------------------------------------------------------


def mask(value: str | None) -> str:
    """Only the last 4 characters, and only of a value long enough to keep the rest hidden."""
    if not value:
        return "(none)"
    return "…" + value[-4:] if len(value) >= 12 else "****"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _err(message: str) -> None:
    print(f"cliq-mcp auth: {message}", file=sys.stderr)


def _ask(prompt: str, *, secret: bool = False) -> str:
    """A prompt on stderr; secrets without echo at a terminal, from stdin (a pipe) otherwise."""
    if sys.stdin is None:  # started without a stdin at all
        return ""
    if secret and sys.stdin.isatty():
        try:
            return getpass.getpass(prompt, stream=sys.stderr).strip()
        except EOFError:
            return ""
    print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not sys.stdin.isatty():
        print(file=sys.stderr)  # a piped answer is not echoed: end the prompt's line
    return line.strip()


def _required(given: str | None, prompt: str, what: str, *, secret: bool = False) -> str:
    value = (given or "").strip() or _ask(prompt, secret=secret)
    if not value:
        raise Failure(f"no {what} given")
    return value


def _printable(text: object) -> str:
    return "".join(c for c in str(text) if c.isprintable())[:80]


def _expiry(answer: TokenAnswer) -> str:
    if answer.expires_in is None:
        return "not stated"
    at = datetime.now().astimezone() + timedelta(seconds=answer.expires_in)
    return f"{at.isoformat(timespec='seconds')} (in {round(answer.expires_in / 60)} min)"


def _exchange(
    accounts: str, grant: dict[str, str], explain: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> TokenAnswer:
    """One token request (``auth.token_request``), read as the server reads it; failures become ``Failure``."""

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport) as http:
            return await http.send(token_request(accounts, grant, timeout=TIMEOUT_S))

    try:
        response = anyio.run(post)
    except httpx.HTTPError as exc:
        raise Failure(f"could not reach {_host(accounts)} ({type(exc).__name__}): check --dc and the network") from None
    try:
        return read_token_answer(response, grant.values())
    except TokenRefused as exc:
        raise Failure(explain.get(exc.code or "") or f"Zoho refused the request ({exc.code})") from None
    except Throttled:
        raise Failure("Zoho refused: too many token requests in the last 10 minutes; wait a few minutes") from None
    except AuthenticationError:
        raise Failure(
            f"{_host(accounts)} answered HTTP {response.status_code} without a token; try again shortly"
        ) from None


def _read_check(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> tuple[bool, str]:
    """One cheap read through ``CliqClient``, ``GET /chats?limit=1``: (worked, what happened; failures as sentences)."""

    async def check() -> None:
        client = CliqClient(settings, transport=transport)
        try:
            await client.send(CHECK.wire(CHECK.model.model_validate({"limit": 1})), CHECK.rate)
        finally:
            await client.aclose()

    try:
        anyio.run(check)
    except AuthenticationError as exc:  # the same error tree, and texts, as the server's
        return False, f"{exc.message} Is the API in the same data centre as the accounts server (--dc)?"
    except PermissionDenied as exc:
        return False, f"{exc.message} The token lacks {CHECK.rate.scope}: generate a code with all four scopes."
    except CliqError as exc:
        return False, str(exc)
    return True, "HTTP 200, chats can be read"


def _env_credentials(env: Mapping[str, str]) -> str:
    """The credential variables set in ``env`` ("" if none): while set, the server ignores the file."""
    return " and ".join(name for name in ENV_CREDENTIALS if env.get(name, "").strip())


# --- cliq-mcp auth -----------------------------------------------------------------------------------


def _signin(args: argparse.Namespace, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None) -> int:
    try:
        return _sign_in(args, env, transport)
    except Failure as exc:
        _err(str(exc))
        return 1
    except KeyboardInterrupt:
        _err("cancelled; nothing was saved")
        return 130


def _sign_in(args: argparse.Namespace, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None) -> int:
    default_dc = (env.get("CLIQ_DC") or "com").strip().lower()
    dc = getattr(args, "dc", None) or _ask(f"Data centre ({', '.join(DATA_CENTRES)}) [{default_dc}]: ") or default_dc
    dc = dc.strip().lower()
    if dc not in DATA_CENTRES:
        raise Failure(f"unknown data centre {_printable(dc)!r}: use one of {', '.join(DATA_CENTRES)}")
    api_host, accounts_host = DATA_CENTRES[dc]
    default_api, default_accounts = f"https://{api_host}/api/v3", f"https://{accounts_host}"
    api = (getattr(args, "api_base_url", None) or env.get("CLIQ_API_BASE_URL") or default_api).rstrip("/")
    accounts = (getattr(args, "accounts_url", None) or env.get("CLIQ_ACCOUNTS_URL") or default_accounts).rstrip("/")
    path = Path(args.credentials_file).expanduser() if args.credentials_file else credentials_path(env)
    if path is None:
        raise Failure("no place for the credentials: set HOME, or pass --credentials-file")

    if not args.code:
        console = "https://" + accounts_host.replace("accounts.", "api-console.", 1) + "/"
        print(
            "Sign in to Zoho Cliq with a Self Client:\n"
            f"  1. Open {console} and sign in with your Zoho account.\n"
            '  2. Choose "Self Client" (create it if you have none). Its "Client Secret" tab shows the client id\n'
            "     and client secret.\n"
            '  3. On the "Generate Code" tab, enter the scopes\n'
            f"       {SCOPES}\n"
            f"     (add ,{USERS_SCOPE} to let find_people ask Cliq's Users API; without it people are found\n"
            "     through your chats) and a description, then create the code. It is valid for 3 minutes: paste\n"
            "     it below right away.\n"
            "The secret and the code are not shown as you type.",
            flush=True,
        )
    client_id = _required(args.client_id, "Client ID: ", "client id")
    client_secret = _required(args.client_secret, "Client secret: ", "client secret", secret=True)
    code = _required(args.code, "Code: ", "code", secret=True)

    grant = {"grant_type": "authorization_code", "client_id": client_id, "client_secret": client_secret, "code": code}
    answer = _exchange(accounts, grant, CODE_ERRORS, transport)
    if answer.refresh_token is None:
        raise Failure("Zoho answered without a refresh token: generate a new code and run `cliq-mcp auth` again")

    data: dict[str, Any] = {
        "dc": dc, "client_id": client_id, "client_secret": client_secret, "refresh_token": answer.refresh_token,
    }  # fmt: skip
    if api != default_api:
        data["api_base_url"] = api
    if accounts != default_accounts:
        data["accounts_url"] = accounts
    if answer.scope:
        data["scope"] = answer.scope
    data["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        write_private(path, json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise Failure(f"could not write {path} ({exc.strerror or type(exc).__name__})") from None

    check = Settings(api_base_url=api, accounts_url=accounts, access_token=SecretStr(answer.access_token), dc=dc)
    worked, what = _read_check(check, transport)
    if not worked:
        print(f"Saved the credentials to {path}, but the check call GET /chats?limit=1 failed: {what}")
        print("Run `cliq-mcp auth status` to check again, or `cliq-mcp auth` to sign in again.")
        return 1
    print(f"Signed in to Zoho Cliq (data centre {dc}, client id {mask(client_id)}; check call: {what}).")
    if path == credentials_path(env):
        print(f"Credentials saved to {path}; the server will use it without environment variables.")
    else:
        print(f"Credentials saved to {path}; start the server with CLIQ_CREDENTIALS_FILE={path} to use it.")
    if names := _env_credentials(env):
        print(f"Note: {names} set in this environment: while set, the server uses it instead of the file.")
    return 0


# --- cliq-mcp auth status ----------------------------------------------------------------------------


def _status(args: argparse.Namespace, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None) -> int:
    env = dict(env)
    if getattr(args, "credentials_file", None):
        env["CLIQ_CREDENTIALS_FILE"] = args.credentials_file
    path = credentials_path(env)
    from_env = any(env.get(name, "").strip() for name in ENV_CREDENTIALS)
    try:
        settings = Settings.from_env(env)
    except ConfigurationError as exc:
        _err(str(exc))
        return 1
    if settings.auth_mode == "none":
        print(f"Not signed in: no credentials file at {path} and no CLIQ_* credentials in the environment.")
        print("Run `cliq-mcp auth` to sign in.")
        return 1
    stored: dict[str, Any] = {}
    if not from_env and path is not None:
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            stored = loaded if isinstance(loaded, dict) else {}
    print(f"Credentials: {'environment variables (CLIQ_*)' if from_env else f'file {path}'}")
    if from_env and path is not None and path.is_file():
        print(f"  (the file {path} is ignored while they are set)")
    print(f"Data centre: {settings.dc}")
    print(f"API: {_host(settings.api_base_url)} ({settings.api_base_url})")
    print(f"Accounts server: {_host(settings.accounts_url)}")
    print(f"Client id: {mask(settings.client_id) if settings.client_id else '(none: a fixed access token)'}")
    scope = stored.get("scope")

    if settings.auth_mode == "refresh":
        try:
            answer = _exchange(settings.accounts_url, refresh_grant(settings), REFRESH_ERRORS, transport)
        except Failure as exc:
            print(f"Scopes: {scope or 'not known'}")
            print(f"Access token: could not get one: {exc}.")
            print("Not working.")
            return 1
        print(f"Scopes: {answer.scope or scope or 'not known'}")
        print(f"Access token: fresh, expires {_expiry(answer)}")
        # Check with that token as it is: letting the client refresh again would spend a second token request.
        fresh = SecretStr(answer.access_token)
        settings = replace(settings, access_token=fresh, client_id=None, client_secret=None, refresh_token=None)
    else:
        print(f"Scopes: {scope or 'not known'}")
        print("Access token: fixed (CLIQ_ACCESS_TOKEN; Zoho's access tokens last 1 hour), expiry not known")

    worked, what = _read_check(settings, transport)
    print(f"Check call GET /chats?limit=1: {what}")
    print("Working." if worked else "Not working.")
    return 0 if worked else 1


# --- cliq-mcp auth logout ----------------------------------------------------------------------------


def _revoke(accounts: str, token: str, transport: httpx.AsyncBaseTransport | None) -> str:
    """What happened to the refresh token, as a sentence fragment."""

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT_S) as http:
            return await http.post(f"{accounts}/oauth/v2/token/revoke", params={"token": token})

    try:
        response = anyio.run(post)
    except httpx.HTTPError as exc:
        return f"could NOT be revoked: {_host(accounts)} was not reachable ({type(exc).__name__})"
    try:
        body = response.json()
    except ValueError:
        return f"could NOT be revoked: {_host(accounts)} answered HTTP {response.status_code} without JSON"
    if isinstance(body, dict) and body.get("status") == "success":
        return "was revoked"
    error = _printable(body.get("error") if isinstance(body, dict) else body)
    return f"could NOT be revoked: Zoho answered {error or 'without a status'} (perhaps revoked already)"


def _logout(args: argparse.Namespace, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None) -> int:
    given = getattr(args, "credentials_file", None)
    path = Path(given).expanduser() if given else credentials_path(env)
    if path is None:
        _err("no credentials file to look for: set HOME, or pass --credentials-file")
        return 1
    if not path.exists():
        print(f"No credentials file at {path}: already signed out.")
    else:
        data: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        refresh = data.get("refresh_token")
        dc = str(data.get("dc") or "com")
        default_accounts = f"https://{DATA_CENTRES.get(dc, DATA_CENTRES['com'])[1]}"
        accounts = (env.get("CLIQ_ACCOUNTS_URL") or data.get("accounts_url") or default_accounts).rstrip("/")
        outcome = "was not in the file, so nothing was revoked"
        if refresh:
            outcome = _revoke(accounts, str(refresh), transport)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            _err(f"could not delete {path} ({exc.strerror or type(exc).__name__}); the refresh token {outcome}")
            return 1
        print(f"Signed out: the refresh token {outcome}; deleted {path}.")
        if "NOT" in outcome:
            print(f"It stays valid until revoked: revoke it in your Zoho account ({_host(default_accounts)}).")
    if names := _env_credentials(env):
        print(f"Note: {names} still set in this environment; the server keeps using it until it is unset.")
    return 0
