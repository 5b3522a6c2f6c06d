"""Attacks on housekeeping by a policy file (`cliq-mcp tidy`, tidy_policy, housekeeping, the guard's policy
branch, `preview_policy`). Each test is a hole found: it fails now and passes once fixed.

What counts is observable: the requests that reached the simulated Cliq, the report, the exit status, the
tool's answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Cliq, api_calls, audit_lines, guarded, text, writes
from simulated_cliq import FakeTime, Fault, Workspace
from test_tidy import closes, fake_time, policy_file, stale, tidy, workspace  # noqa: F401 (fixtures)

pytestmark = pytest.mark.era_independent


def stale_groups(workspace: Workspace, days: int = 90) -> list[str]:
    """Unpinned group chats nobody wrote in for ``days``, in list order."""
    return [c.chat_id for c in workspace.my_chats() if c.chat_type == "group_chat" and not c.pinned and stale(c, days)]


CLOSE_GROUPS = """\
[limits]
max_acts = 1000

[exclude]
names = [{names}]

[close]
chat_types = ["group_chat"]
inactive_days = 90
max_acts = 1000
"""


def named(workspace: Workspace, name: str) -> str:
    """A stale group chat renamed ``name`` (as any member of it can)."""
    chat_id = stale_groups(workspace)[3]
    workspace.chats[chat_id].name = name
    return chat_id


# --- Exclusions by name: what the person wrote must keep the chat out -------------------------------------


def test_an_excluded_name_with_brackets_is_excluded_as_written(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`names = ["Q&A [internal]"]` reads as that chat; as a glob "[internal]" is one character of a set, so the
    chat named exactly that is not excluded and is closed."""
    chat = named(workspace, "Q&A [internal]")
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"Q&A [internal]"'))
    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "a chat whose name is exactly an exclude entry was closed"


def test_an_excluded_name_copied_with_its_double_space_is_excluded(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The person copies the chat's name from Cliq, double space and all; the name is compared after its
    spaces are collapsed, the pattern as written, so they never match."""
    chat = named(workspace, "Board  Minutes")
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"Board  Minutes"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "the exclude entry copied from the chat's name did not exclude it"


def test_an_excluded_name_copied_with_an_invisible_character_is_excluded(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same with a zero-width space in the name (the cleaned name loses it, the pattern keeps it)."""
    chat = named(workspace, "Pay\u200broll")
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"Pay\u200broll"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace)


def test_a_long_name_does_not_slip_past_an_exclusion(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cliq allows 255-character titles; the policy sees the name cut at 200 characters (with "…"), so
    "*leadership*" misses a name that says Leadership at its end."""
    chat = named(workspace, "Quarterly planning notes, " * 8 + "Leadership")
    assert len(workspace.chats[chat].name) <= 255
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"*leadership*"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "a long name containing an excluded word was closed"


def test_a_fullwidth_name_does_not_slip_past_an_exclusion(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """"ＬＥＡＤＥＲＳＨＩＰ" (fullwidth, NFKC "LEADERSHIP") reads as Leadership to a person; the pattern is
    matched without compatibility normalisation."""
    chat = named(workspace, "ＬＥＡＤＥＲＳＨＩＰ offsite")
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"*leadership*"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace)


def test_an_excluded_chat_id_with_stray_spaces_excludes_or_is_refused(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`chat_ids = [" 2890…"]` (pasted with a space) is accepted and silently excludes nothing."""
    chat = stale_groups(workspace)[0]
    text_ = CLOSE_GROUPS.replace("names = [{names}]", f'chat_ids = [" {chat}"]')
    path = policy_file(tmp_path, text_)
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "an excluded chat id was closed"
    assert code == 2 or {c["chat_id"]: c for c in report["chats"]}[chat]["reason"].startswith("excluded")
