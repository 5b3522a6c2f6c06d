"""Settings from the environment: data centres, overrides, sandbox selection, guard defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliq_mcp.core.config import Settings
from cliq_mcp.core.errors import ConfigurationError


@pytest.mark.parametrize(
    ("dc", "api", "accounts"),
    [
        (None, "https://cliq.zoho.com/api/v3", "https://accounts.zoho.com"),
        ("eu", "https://cliq.zoho.eu/api/v3", "https://accounts.zoho.eu"),
        ("com.au", "https://cliq.zoho.com.au/api/v3", "https://accounts.zoho.com.au"),
        ("ca", "https://cliq.zohocloud.ca/api/v3", "https://accounts.zohocloud.ca"),
    ],
)
def test_data_centres(dc: str | None, api: str, accounts: str) -> None:
    settings = Settings.from_env({"CLIQ_DC": dc} if dc else {})
    assert (settings.api_base_url, settings.accounts_url) == (api, accounts)


def test_overrides_win_and_trailing_slashes_go() -> None:
    settings = Settings.from_env(
        {"CLIQ_DC": "eu", "CLIQ_API_BASE_URL": "http://127.0.0.1:1/api/v3/", "CLIQ_ACCOUNTS_URL": "http://a/"}
    )
    assert (settings.api_base_url, settings.accounts_url) == ("http://127.0.0.1:1/api/v3", "http://a")


def test_an_unknown_dc_is_what_every_tool_answers_not_an_exit() -> None:
    settings = Settings.from_env({"CLIQ_DC": "mars", "CLIQ_ACCESS_TOKEN": "t"})  # a server starts with it
    assert settings.problem is not None and "Unknown CLIQ_DC 'mars'" in str(settings.problem)
    assert "com.au" in str(settings.problem)


@pytest.mark.parametrize(("typed", "dc"), [("zoho.eu", "eu"), ("https://accounts.zoho.com.au/", "com.au"),
                                           (" EU ", "eu"), ("zohocloud.ca", "ca"), ("zoho.com", "com")])  # fmt: skip
def test_a_data_centre_is_read_as_people_write_it(typed: str, dc: str) -> None:
    settings = Settings.from_env({"CLIQ_DC": typed})
    assert settings.problem is None and settings.dc == dc


def test_empty_bundle_settings_defer_to_what_auth_saved(tmp_path: Path) -> None:
    saved = tmp_path / "config" / "cliq-mcp" / "credentials.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"dc": "eu", "client_id": "i", "client_secret": "s", "refresh_token": "r"}))
    bundle = {"CLIQ_MCPB": "1", "CLIQ_DC": "", "CLIQ_CLIENT_ID": "", "CLIQ_CLIENT_SECRET": "", "CLIQ_REFRESH_TOKEN": "",
              "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    settings = Settings.from_env(bundle)
    assert settings.accounts_url == "https://accounts.zoho.eu" and settings.auth_mode == "refresh"
    nothing = Settings.from_env({**bundle, "XDG_CONFIG_HOME": str(tmp_path / "empty")})
    assert nothing.auth_mode == "none" and "Claude Desktop" in nothing.setup_help and "auth`" not in nothing.setup_help


def test_sandbox_auto_only_without_credentials() -> None:
    assert Settings.from_env({}, sandbox="auto").sandbox is True
    assert Settings.from_env({"CLIQ_ACCESS_TOKEN": "t"}, sandbox="auto").sandbox is False
    with_refresh = {"CLIQ_CLIENT_ID": "i", "CLIQ_CLIENT_SECRET": "s", "CLIQ_REFRESH_TOKEN": "r"}
    assert Settings.from_env(with_refresh, sandbox="auto").auth_mode == "refresh"


def test_secrets_do_not_show_in_repr() -> None:
    settings = Settings.from_env(
        {"CLIQ_ACCESS_TOKEN": "tok-123456", "CLIQ_CLIENT_ID": "i", "CLIQ_CLIENT_SECRET": "sec-123456",
         "CLIQ_REFRESH_TOKEN": "ref-123456", "CLIQ_GUARD_SECRET": "guard-secret-123456"}
    )  # fmt: skip
    shown = repr(settings) + str(settings)
    for secret in ("tok-123456", "sec-123456", "ref-123456", "guard-secret-123456"):
        assert secret not in shown
    assert set(settings.secrets()) == {"tok-123456", "sec-123456", "ref-123456", "guard-secret-123456"}


def test_audit_log_defaults_to_the_users_state_directory() -> None:
    assert Settings.from_env({"HOME": "/home/u"}).guard.audit_log == "/home/u/.local/state/cliq-mcp/audit.jsonl"
    assert Settings.from_env({"XDG_STATE_HOME": "/s"}).guard.audit_log == "/s/cliq-mcp/audit.jsonl"
    assert Settings.from_env({"HOME": "/home/u", "CLIQ_AUDIT_LOG": "off"}).guard.audit_log is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLIQ_GUARD", "yolo"), ("CLIQ_TIMEOUT", "0"), ("CLIQ_TIMEOUT", "abc"), ("CLIQ_GUARD_SECRET", "short"),
     ("CLIQ_CONFIRM_TTL", "-5")],
)  # fmt: skip
def test_bad_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize(("name", "value"), [("CLIQ_READ_ONLY", "enabled"), ("CLIQ_PACING", "sometimes"),
                                             ("CLIQ_SANDBOX_RATE_LIMITS", "later"),
                                             ("CLIQ_LOG_LEVEL", "TRACE")])  # fmt: skip
def test_unclear_switches_are_refused_not_read_as_off(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name.removeprefix("CLIQ_").replace("_", " ").lower() + "|" + name):
        Settings.from_env({name: value})


async def test_every_tool_answers_with_a_settings_problem(tmp_path: Path) -> None:
    from mcp import Client

    from cliq_mcp.serve.server import build_server

    settings = Settings.from_env({"CLIQ_DC": "zoho.mars", "CLIQ_ACCESS_TOKEN": "t", "HOME": str(tmp_path)})
    async with Client(build_server(settings)) as client:  # it starts: a host sees the tools, not "disconnected"
        result = await client.call_tool("list_chats", {})
    assert result.is_error is True and "Unknown CLIQ_DC 'zoho.mars'" in result.content[0].text


async def test_a_bundle_without_credentials_says_what_to_fill_in_claude_desktop(tmp_path: Path) -> None:
    from mcp import Client

    from cliq_mcp.serve.server import build_server

    settings = Settings.from_env({"CLIQ_MCPB": "1", "HOME": str(tmp_path)})
    async with Client(build_server(settings)) as client:
        text = (await client.call_tool("list_chats", {})).content[0].text
    assert "Settings > Extensions > cliq-mcp" in text and "tick Sandbox" in text and "restart" not in text
