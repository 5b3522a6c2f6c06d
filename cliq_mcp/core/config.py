"""Settings: where Cliq is, how to authenticate, how to run.

Read once from an injected mapping (normally ``os.environ``) so that nothing else reads the
environment and no test has to patch it. Secrets are held as ``SecretStr``: their ``repr`` and
``str`` never show the value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast, get_args

from pydantic import SecretStr

from cliq_mcp.core.errors import ConfigurationError

# CLIQ_DC -> (Cliq API host, accounts host). From the API notes; ca/sa/uk hosts are unconfirmed
# there, so they stay overridable with CLIQ_API_BASE_URL / CLIQ_ACCOUNTS_URL.
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "com": ("cliq.zoho.com", "accounts.zoho.com"),
    "eu": ("cliq.zoho.eu", "accounts.zoho.eu"),
    "in": ("cliq.zoho.in", "accounts.zoho.in"),
    "com.au": ("cliq.zoho.com.au", "accounts.zoho.com.au"),
    "jp": ("cliq.zoho.jp", "accounts.zoho.jp"),
    "com.cn": ("cliq.zoho.com.cn", "accounts.zoho.com.cn"),
    "ca": ("cliq.zohocloud.ca", "accounts.zohocloud.ca"),
    "sa": ("cliq.zoho.sa", "accounts.zoho.sa"),
    "uk": ("cliq.zoho.uk", "accounts.zoho.uk"),
}

# The embedded sandbox is reached through an in-process transport; this host is never resolved.
SANDBOX_ORIGIN = "http://sandbox.cliq.invalid"
SANDBOX_TOKEN = "sandbox-token"

CREDENTIAL_HELP = (
    "Run `cliq-mcp auth` to sign in, or set CLIQ_ACCESS_TOKEN, or "
    "CLIQ_CLIENT_ID + CLIQ_CLIENT_SECRET + CLIQ_REFRESH_TOKEN "
    "(and CLIQ_DC if your account is not on zoho.com), then start cliq-mcp again; "
    "or use --sandbox to try every tool on a simulated workspace."
)
# In the MCP Bundle (CLIQ_MCPB is set by its manifest) the person has Claude Desktop's settings, not a shell.
BUNDLE_HELP = (
    "In Claude Desktop: Settings > Extensions > cliq-mcp > Configure: fill in the Zoho client id, client secret "
    "and refresh token of your Self Client (and the data centre if your account is not on zoho.com), or tick "
    "Sandbox to try every tool on a simulated workspace."
)
# What people type for a data centre, beyond its own name.
DC_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn", "zohocloud.ca": "ca"}


def data_centre(value: str) -> str | None:
    """``eu``, ``zoho.eu``, ``https://accounts.zoho.eu``, ``.EU`` -> ``eu``; None when it names none we know."""
    text = value.strip().lower().removeprefix("https://").removeprefix("http://").strip("/ .")
    for prefix in ("accounts.", "cliq.", "www."):
        text = text.removeprefix(prefix)
    text = DC_ALIASES.get(text, text)
    text = text.removeprefix("zoho.") if text.startswith("zoho.") else text
    return text if text in DATA_CENTRES else None


def _seconds(value: str | None, *, default: float, name: str, most: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= most:
        raise ConfigurationError(f"{name} must be a number of seconds from 0 to {most:g}, not {value!r}.", "")
    return seconds


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
GuardPolicy = Literal["ask", "elicit", "trust-host", "refuse", "unattended"]
GUARD_POLICIES: tuple[str, ...] = get_args(GuardPolicy)
CREDENTIAL_FIELDS = ("dc", "client_id", "client_secret", "refresh_token", "api_base_url", "accounts_url")


def credentials_path(env: Mapping[str, str]) -> Path | None:
    """Where ``cliq-mcp auth`` keeps credentials: $CLIQ_CREDENTIALS_FILE, else the user's config directory."""
    if env.get("CLIQ_CREDENTIALS_FILE"):
        return Path(env["CLIQ_CREDENTIALS_FILE"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or (f"{env['HOME']}/.config" if env.get("HOME") else None)
    return Path(base) / "cliq-mcp" / "credentials.json" if base else None


def stored_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """The credentials file's fields as CLIQ_* variables; {} when there is none.

    The file is JSON: {"dc", "client_id", "client_secret", "refresh_token"} and optionally
    "api_base_url" / "accounts_url"; written by ``cliq-mcp auth`` readable only by its owner.
    """
    path = credentials_path(env)
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigurationError(
            f"Cannot read the credentials file {path}.", "Run `cliq-mcp auth` again, or remove the file."
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"The credentials file {path} is not a JSON object.", "Run `cliq-mcp auth` again.")
    return {f"CLIQ_{k.upper()}": str(v) for k, v in data.items() if k in CREDENTIAL_FIELDS and v}


def _level(value: str) -> LogLevel:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigurationError(f"Unknown log level {value!r}.", f"Use {', '.join(LOG_LEVELS)}.")
    return cast(LogLevel, level)


def _names(value: str | None, name: str) -> frozenset[str]:
    """A list of names; one given but naming nothing (",") is an error, not "every tool"."""
    names = _csv(value)
    if value is not None and value.strip() and not names:
        raise ConfigurationError(f"{name} names nothing ({value!r}).", "Give tool names or toolsets, comma-separated.")
    return names


def _csv(value: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def _flag(value: str | None, name: str) -> bool:
    """A yes/no setting; anything else is an error rather than a silent "no" (which could fail open)."""
    text = (value or "").strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be 1/true/yes/on or 0/false/no/off, not {value!r}.", "")


@dataclass(frozen=True)
class GuardConfig:
    """What the guard allows. See README, "How the guard works"."""

    policy: str = "ask"  # ask | elicit | trust-host | refuse | unattended (see guard/decide.py)
    unattended_chats: frozenset[str] = frozenset()  # destructive acts allowed without a person, unattended only
    write_allow: frozenset[str] = frozenset()  # if set, writes only to these chats
    write_deny: frozenset[str] = frozenset()  # never write to these chats (beats the allow-list)
    read_only: bool = False
    tools: frozenset[str] = frozenset()  # tool names or toolsets (read, write, destructive); empty: all
    exclude_tools: frozenset[str] = frozenset()
    audit_log: str | None = None  # path of the JSON-lines audit log; None: no audit log
    state_url: str | None = None  # the shared state store (core/state_store.py); None: no place to keep it
    secret: SecretStr | None = None  # HMAC key for confirmation tokens; None: random per process
    token_ttl: float = 300.0  # nothing acts later than this after the question was asked
    # How long one call waits for the person's click on the approval page: inside the 60 s request timeout of
    # the usual MCP clients (the official TypeScript SDK's default); the page stays open for the next call.
    approval_wait: float = 45.0

    def may_write(self, chat_id: str) -> bool:
        """The one rule of CLIQ_WRITE_CHATS / CLIQ_DENY_CHATS: the deny list beats the allow-list."""
        return chat_id not in self.write_deny and (not self.write_allow or chat_id in self.write_allow)

    @classmethod
    def from_env(cls, get: Callable[[str], str | None]) -> GuardConfig:
        policy = (get("CLIQ_GUARD") or "ask").lower()
        if policy not in GUARD_POLICIES:
            raise ConfigurationError(f"Unknown CLIQ_GUARD {policy!r}.", f"Use one of {', '.join(GUARD_POLICIES)}.")
        state = get("XDG_STATE_HOME") or (f"{get('HOME')}/.local/state" if get("HOME") else None)
        audit = get("CLIQ_AUDIT_LOG")
        if audit is None:
            audit = f"{state}/cliq-mcp/audit.jsonl" if state else None
        elif audit.lower() == "off":
            audit = None
        secret = get("CLIQ_GUARD_SECRET")
        if secret is not None and len(secret) < 16:
            raise ConfigurationError("CLIQ_GUARD_SECRET is too short.", "Use at least 16 random characters.")
        ttl = _seconds(get("CLIQ_CONFIRM_TTL"), default=300.0, name="CLIQ_CONFIRM_TTL", most=3600)
        return cls(
            policy=policy,
            unattended_chats=_csv(get("CLIQ_UNATTENDED_CHATS")),
            write_allow=_csv(get("CLIQ_WRITE_CHATS")),
            write_deny=_csv(get("CLIQ_DENY_CHATS")),
            read_only=_flag(get("CLIQ_READ_ONLY"), "CLIQ_READ_ONLY"),
            tools=_names(get("CLIQ_TOOLS"), "CLIQ_TOOLS"),
            exclude_tools=_names(get("CLIQ_EXCLUDE_TOOLS"), "CLIQ_EXCLUDE_TOOLS"),
            audit_log=audit,
            state_url=get("CLIQ_STATE_URL") or (f"{state}/cliq-mcp/state.sqlite3" if state else None),
            secret=SecretStr(secret) if secret else None,
            token_ttl=ttl,
            approval_wait=_seconds(get("CLIQ_APPROVAL_WAIT"), default=45.0, name="CLIQ_APPROVAL_WAIT", most=3600),
        )


@dataclass(frozen=True)
class Settings:
    api_base_url: str
    accounts_url: str
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    # CLIQ_ACCOUNT: one name for the account however it is configured (an access token here, a refresh token
    # there): its budget, token, claims and locks are then one, whatever the credentials.
    account_name: str | None = None
    dc: str = "com"
    sandbox: bool = False
    log_level: LogLevel = "WARNING"
    timeout: float = 15.0  # seconds to wait for Cliq's answer; well under clients' usual 30 s
    guard: GuardConfig = GuardConfig()
    pacing: bool = True  # keep below Cliq's per-minute thresholds (CLIQ_PACING=off for test servers)
    # --sandbox: the simulated Cliq throttles as the real one does (CLIQ_SANDBOX_RATE_LIMITS=off: load tests)
    sandbox_rate_limits: bool = True
    http_token: SecretStr | None = None  # bearer token HTTP clients must send (CLIQ_MCP_HTTP_TOKEN)
    allowed_hosts: frozenset[str] = frozenset()  # extra Host values the HTTP transport accepts
    allowed_origins: frozenset[str] = frozenset()  # Origin values the HTTP transport accepts
    public_url: str | None = None  # HTTP: the address people's browsers reach this server at (approval pages)
    problem: ConfigurationError | None = None  # a setting that cannot be used: every tool answers with it
    setup_help: str = CREDENTIAL_HELP  # how to set credentials up, where this server runs

    @property
    def users_api_base_url(self) -> str | None:
        """The v2 API, where Cliq's Users API lives, next to the v3 base: ``…/api/v3`` -> ``…/api/v2``
        (CLIQ_API_BASE_URL stays the v3 base). None for a base that does not end in ``/v3``: then people
        are found through chats only."""
        base = self.api_base_url
        return base[: -len("/v3")] + "/v2" if base.endswith("/v3") else None

    @property
    def auth_mode(self) -> Literal["token", "refresh", "none"]:
        if self.client_id and self.client_secret and self.refresh_token:
            return "refresh"
        if self.access_token:
            return "token"
        return "none"

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        sandbox: bool | Literal["auto"] = False,
        log_level: str | None = None,
    ) -> Settings:
        """Build settings from environment-style variables.

        ``sandbox="auto"`` picks the sandbox only when no credentials are configured.
        """

        has_credentials = any(env.get(n, "").strip() for n in ("CLIQ_ACCESS_TOKEN", "CLIQ_REFRESH_TOKEN"))
        if not has_credentials:
            # Variables set explicitly win over the file `cliq-mcp auth` wrote.
            env = {**stored_credentials(env), **{k: v for k, v in env.items() if v.strip()}}

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def secret(name: str) -> SecretStr | None:
            value = get(name)
            return SecretStr(value) if value else None

        given = get("CLIQ_DC") or "com"
        dc = data_centre(given)
        problem = None
        explicit = get("CLIQ_API_BASE_URL") and get("CLIQ_ACCOUNTS_URL")  # both given: no data centre needed
        if dc is None and not explicit:  # every tool answers with it (a server that exits shows only "disconnected")
            problem = ConfigurationError(
                f"Unknown CLIQ_DC {given[:40]!r}.",
                f"Use one of {', '.join(DATA_CENTRES)}, or set CLIQ_API_BASE_URL and CLIQ_ACCOUNTS_URL.",
            )
        dc = dc or "com"
        api_host, accounts_host = DATA_CENTRES[dc]
        settings = cls(
            api_base_url=(get("CLIQ_API_BASE_URL") or f"https://{api_host}/api/v3").rstrip("/"),
            accounts_url=(get("CLIQ_ACCOUNTS_URL") or f"https://{accounts_host}").rstrip("/"),
            access_token=secret("CLIQ_ACCESS_TOKEN"),
            client_id=get("CLIQ_CLIENT_ID"),
            client_secret=secret("CLIQ_CLIENT_SECRET"),
            refresh_token=secret("CLIQ_REFRESH_TOKEN"),
            account_name=get("CLIQ_ACCOUNT"),
            dc=dc,
            log_level=_level(log_level or get("CLIQ_LOG_LEVEL") or "WARNING"),
            timeout=_seconds(get("CLIQ_TIMEOUT"), default=15.0, name="CLIQ_TIMEOUT", most=120),
            guard=GuardConfig.from_env(get),
            pacing=_flag(get("CLIQ_PACING") or "on", "CLIQ_PACING"),
            sandbox_rate_limits=_flag(get("CLIQ_SANDBOX_RATE_LIMITS") or "on", "CLIQ_SANDBOX_RATE_LIMITS"),
            http_token=secret("CLIQ_MCP_HTTP_TOKEN"),
            allowed_hosts=_csv(get("CLIQ_MCP_ALLOWED_HOSTS")),
            allowed_origins=_csv(get("CLIQ_MCP_ALLOWED_ORIGINS")),
            public_url=get("CLIQ_MCP_PUBLIC_URL"),
            problem=problem,
            setup_help=BUNDLE_HELP if get("CLIQ_MCPB") else CREDENTIAL_HELP,
        )
        if sandbox == "auto":
            sandbox = settings.auth_mode == "none"
        return settings.for_sandbox() if sandbox else settings

    def for_sandbox(self) -> Settings:
        """The same settings pointed at the embedded simulated workspace."""
        return replace(
            self,
            api_base_url=f"{SANDBOX_ORIGIN}/api/v3",
            accounts_url=SANDBOX_ORIGIN,
            access_token=SecretStr(SANDBOX_TOKEN),
            client_id=None,
            client_secret=None,
            refresh_token=None,
            sandbox=True,
            problem=None,
        )

    @property
    def account(self) -> str:
        """A short, stable id for the Cliq account: the API base and the credential that identifies the grant.
        Shared state (used confirmations, pacing) is kept per account, never per process."""
        held = self.refresh_token or self.access_token
        identity = f"{self.client_id}|{held.get_secret_value()}" if held else "none"
        if self.account_name:  # named: the same account whatever credentials configure it
            identity = f"named|{self.account_name.strip().casefold()}"
        return hashlib.sha256(f"{self.api_base_url}|{identity}".encode()).hexdigest()[:16]

    def secrets(self) -> list[str]:
        """Every secret value in force, for the log redactor."""
        held = (self.access_token, self.client_secret, self.refresh_token, self.guard.secret, self.http_token)
        found = [s.get_secret_value() for s in held if s]
        return [s for s in found if len(s) >= 4]
