"""Attacks on housekeeping by a policy file (`cliq-mcp tidy`, tidy_policy, housekeeping, the guard's policy
branch, `preview_policy`). Each test is a hole found: it fails now and passes once fixed.

What counts is observable: the requests that reached the simulated Cliq, the report, the exit status, the
tool's answer.

- Exclusions that do not exclude: an exclude entry that is the chat's exact name with [brackets] (a glob
  set), copied with a double space or an invisible character (the name is cleaned, the pattern is not), a
  name longer than 200 characters (cut before matching), fullwidth letters (no NFKC), a chat id with a
  stray space (accepted, matches nothing).
- The report: SIGTERM while the run waits for a rate window (between acts, or while planning) leaves acts
  "planned" in an applied report that does not say it was interrupted; an act whose arguments our request
  models refuse (an unexpected message id) crashes the run after acting, with no report; one chat Cliq
  refuses to show sinks the whole run (exit 4, a report of 0 chats).
- The plan: a chat closed while the plan waits makes it judge its page again (chats twice, planned twice).
- Settings: --apply writes under CLIQ_READ_ONLY / CLIQ_EXCLUDE_TOOLS=destructive / CLIQ_TOOLS=read, and acts
  with an audit log it cannot write, exit 0.
- Rate limits: Cliq's throttle while planning does not stop an --apply run (its re-checks go into the lock).
- Strict input: refusals name the wrong line (dotted keys, [[close]], an exclude entry, a header inside a
  string); `version = true` and `version = 1.0` are accepted.
- preview_policy: a forged next_token (plain base64, checked only against the policy's hash) makes the
  preview answer "complete, 0 acts planned" for a policy that closes 50 chats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Cliq, api_calls, env_for, guarded, text, writes
from simulated_cliq import FakeTime, Fault, Workspace
from test_tidy import closes, policy_file, stale, tidy

from cliq_mcp.core.config import Settings

pytestmark = [pytest.mark.era_independent, pytest.mark.real_now]


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
    _code, _report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
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
    """ "ＬＥＡＤＥＲＳＨＩＰ" (fullwidth, NFKC "LEADERSHIP") reads as Leadership to a person; the pattern is
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
    code, report, _err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "an excluded chat id was closed"
    assert code == 2 or {c["chat_id"]: c for c in report["chats"]}[chat]["reason"].startswith("excluded")


# --- The report when the run is interrupted -----------------------------------------------------------------


def run_tidy(
    cliq: Cliq,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    sleep: Any = None,
    transport: Any = None,
) -> tuple[int, Any, str]:
    """As test_tidy.tidy, with a sleep and a transport of the test's own (by default the fake clock's and the
    simulated Cliq's)."""
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    parsed = cli._parser({"tidy"}).parse_args(["tidy", *args, "--json"])
    clock = cliq.time
    settings, transport = guarded(cliq, tmp_path), transport or cliq.transport
    code = tidy_command.main(parsed, settings, transport, sleep=sleep or clock.sleep, clock=clock, wall_clock=clock)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_sigterm_while_waiting_for_a_rate_window_reports_the_acts_not_reached_as_not_sent(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM arrives while an --apply run waits out a rate window between two acts (the wait is inside the
    `except Throttled` handler, outside the `except BaseException` that fixes up the report): the acts never
    reached stay "planned" in an applied report, and the report does not say it was interrupted."""
    import os
    import signal

    import anyio

    async def sleep(seconds: float) -> None:
        if writes(workspace) and seconds > 10:  # the run's own wait for a rate window, while applying
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep_forever()  # until the signal cancels it
        await cliq.time.sleep(seconds)

    path = policy_file(tmp_path, CLOSE_GROUPS.format(names=""))
    code, report, err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply", sleep=sleep)
    assert "interrupted" in err
    sent = set(closes(workspace))
    acts = [c for c in report["chats"] if c["tool"]]
    assert 0 < len(sent) < len(acts)
    assert code == 1
    outcome = {c["chat_id"]: c["outcome"] for c in acts}
    assert all(outcome[c] == "done" for c in sent)
    never = {c: o for c, o in outcome.items() if c not in sent}
    assert set(never.values()) == {"not_sent"}, f"acts never sent reported as {set(never.values())}"
    assert report["stopped"] == "interrupted"


def lists_without_unread(fake_time: FakeTime) -> tuple[Cliq, Workspace]:
    """A Cliq whose lists leave out unread counts: the plan reads chats alone, and waits for rate windows."""
    import httpx
    from simulated_cliq import observed

    workspace = Workspace(clock=fake_time)  # lists without counts for about half the chats
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time), workspace


def test_sigterm_while_planning_an_apply_run_says_interrupted_and_leaves_nothing_planned(
    fake_time: FakeTime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM during the plan of an --apply run (waiting for get_chat's window): the report neither says it
    was interrupted (stopped is None: "Not every chat was judged (None)") nor that nothing was sent: the
    chats planned so far stay "planned" in a report whose `applied` is true."""
    import os
    import signal

    import anyio

    cliq, workspace = lists_without_unread(fake_time)

    async def sleep(seconds: float) -> None:
        if seconds > 10:  # the run's own wait for a rate window (planning: nothing is written yet)
            os.kill(os.getpid(), signal.SIGTERM)
            await anyio.sleep_forever()  # until the signal cancels it
        await fake_time.sleep(seconds)

    path = policy_file(tmp_path, '[mark_read]\nchat_types = ["group_chat", "direct_message"]\n')
    code, report, _err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply", sleep=sleep)
    assert writes(workspace) == [] and code == 1
    assert "interrupted" in (report["stopped"] or ""), report["stopped"]
    assert not [c for c in report["chats"] if c["outcome"] == "planned"], "an applied report says 'planned'"


# --- Strict input: the policy means what it reads, and errors name the right line ---------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        # TOML dotted keys: the same table written as `close.key = …` (the error names line 1)
        ('# nightly\n\nclose.chat_types = ["group_chat"]\nclose.inactive_days = "90"\n', 4),
        # an array of tables (`[[close]]` is a list, not a table): the error names line 1
        ("[limits]\nmax_acts = 5\n\n[[close]]\ninactive_days = 90\n", 4),
        # an invalid exclude entry: the error names the [exclude] header, not the entry's line
        ('[exclude]\npinned = true\nmuted = false\nnames = ["ok", " "]\n\n[close]\ninactive_days = 9\n', 4),
        # a multi-line string that holds a "[exclude]" line moves the key after it to the wrong table
        ('[close]\ninactive_days = 9\nnames = ["""\n[exclude]\n"""]\nmax_act = 2\n', 6),
    ],
    ids=["dotted-keys", "array-of-tables", "exclude-entry", "header-in-a-string"],
)
def test_the_line_named_in_a_refusal_is_the_line_of_the_mistake(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int
) -> None:
    path = policy_file(tmp_path, text, "bad.toml")
    code, _report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 2 and api_calls(workspace) == []
    assert f"bad.toml, line {line}:" in err, err


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_version_is_the_whole_number_1_and_nothing_that_equals_it(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    """`version = true` and `version = 1.0` are accepted as version 1 (bools as ints, floats as ints), where
    every other key is strict (`pinned = 1` and `inactive_days = 90.0` are refused)."""
    path = policy_file(tmp_path, f"version = {version}\n[close]\ninactive_days = 90\n", "bad.toml")
    code, _report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path))
    assert code == 2 and "bad.toml, line 1: version must be 1" in err, err


# --- The plan: every chat once ------------------------------------------------------------------------------


def test_a_chat_closed_while_the_plan_waits_does_not_make_the_plan_judge_its_page_twice(
    fake_time: FakeTime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan waits for get_chat's window mid-page; meanwhile the person closes the last chat judged. The
    walk resumes "after" that chat, does not find it on the page, and judges the whole page again: every chat
    before it is in the report twice and planned twice (two acts on one chat, each counted against max_acts)."""
    import re

    cliq, workspace = lists_without_unread(fake_time)
    waits: list[str] = []

    async def sleep(seconds: float) -> None:
        if seconds > 10 and not waits:  # the plan's first wait for get_chat's window
            last = [r.path for r in workspace.requests if re.fullmatch(r"/api/v3/chats/\d+", r.path)][-1]
            waits.append(last.rsplit("/", 1)[1])
            workspace.chats[waits[0]].closed = True  # the person closes it in Cliq meanwhile
        await fake_time.sleep(seconds)

    path = policy_file(tmp_path, "[limits]\nmax_acts = 1000\n[exclude]\npinned = false\n[mark_read]\n")
    _code, report, _err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path), sleep=sleep)
    assert waits, "the plan never waited"
    ids = [c["chat_id"] for c in report["chats"]]
    twice = sorted({c for c in ids if ids.count(c) > 1})
    assert not twice, f"{len(twice)} chats judged twice"
    planned = [c["arguments"]["chat_id"] for c in report["chats"] if c["tool"]]
    assert len(planned) == len(set(planned)), "a chat planned twice"


# --- The server's own settings: what may never be written ---------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [{"CLIQ_READ_ONLY": "1"}, {"CLIQ_EXCLUDE_TOOLS": "destructive"}, {"CLIQ_TOOLS": "read"}],
    ids=["read-only", "destructive-excluded", "only-read-tools"],
)
def test_apply_writes_nothing_the_servers_settings_rule_out(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], env: dict[str, str]
) -> None:
    """`cliq-mcp --read-only tidy --policy … --apply` (or CLIQ_READ_ONLY=1, or destructive tools excluded):
    `cliq-mcp call close_chat` is refused under these settings, but tidy closes chats all the same."""
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    path = policy_file(tmp_path, CLOSE_GROUPS.format(names=""))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    clock = cliq.time
    code = tidy_command.main(
        parsed, guarded(cliq, tmp_path, **env), cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock
    )
    capsys.readouterr()
    assert writes(workspace) == [], f"{len(writes(workspace))} writes under {env}"
    assert code in (1, 2)


# --- Cliq's rate limits: a throttle from Cliq stops the run -------------------------------------------------


def test_cliqs_throttle_while_planning_stops_the_run_instead_of_sending_into_the_lock(
    fake_time: FakeTime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cliq throttles get_chat while the plan reads a chat alone (lists without unread counts). The plan stops,
    but --apply then acts on the partial plan, and each act's re-check is a get_chat: requests sent straight
    into the operation Cliq has just locked (the README: "A throttle from Cliq stops the run")."""
    import re

    cliq, workspace = lists_without_unread(fake_time)
    throttle = {"code": "rate_limit_exceeded", "message": "Too many requests"}
    alone = re.compile(r"/api/v3/chats/\d+")
    victim = [c.chat_id for c in workspace.my_chats()][10]
    fault = workspace.inject(Fault("GET", f"/api/v3/chats/{victim}", "status", status=429, body=throttle))
    path = policy_file(tmp_path, "[limits]\nmax_acts = 1000\n[exclude]\npinned = false\n[mark_read]\n")
    code, report, _err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert fault.taken == 1 and report["complete"] is False and code == 1
    reads = [r for r in workspace.requests if r.method == "GET" and alone.fullmatch(r.path)]
    throttled_at = next(i for i, r in enumerate(reads) if r.path.endswith(victim))
    after = reads[throttled_at + 1 :]
    assert after == [], f"{len(after)} get_chat requests sent after Cliq throttled get_chat"
    assert writes(workspace) == []


# --- preview_policy (reachable by a model) ------------------------------------------------------------------


async def test_a_forged_next_token_cannot_make_the_preview_hide_the_acts(client: Any, workspace: Workspace) -> None:
    """The cursor is plain base64 JSON checked only against the policy's hash (which the model knows): a
    token the server never gave, saying 50 closes are already planned, makes the preview answer "complete,
    0 acts planned" for a policy that closes 50 chats tonight. (Negative counts plan past max_acts.)"""
    import base64
    import hashlib

    policy = CLOSE_GROUPS.format(names="").replace("max_acts = 1000", "max_acts = 50")
    honest = await client.call_tool("preview_policy", {"policy": policy})
    assert honest.structured_content["planned"] == 50
    sha = hashlib.sha256(policy.encode()).hexdigest()
    raw = {"t": None, "a": None, "l": 0, "n": {"close": 50}, "p": sha[:16]}
    forged = base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")
    result = await client.call_tool("preview_policy", {"policy": policy, "next_token": forged})
    said = result.structured_content or {}
    assert result.is_error is True or said.get("planned") == 50, (
        f"forged cursor accepted: {said.get('planned')} planned, complete={said.get('complete')}: {text(result)[:200]}"
    )


def test_one_chat_cliq_refuses_to_show_does_not_sink_the_whole_run(
    fake_time: FakeTime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan reads a chat alone and Cliq answers 403 for that one chat: the whole run fails with exit 4
    ("Cliq could not be reached or refused the credentials"), a report of 0 chats (those judged before it are
    dropped), and nothing is done, every night, for as long as that one chat is there."""
    cliq, workspace = lists_without_unread(fake_time)
    chats = [c.chat_id for c in workspace.my_chats()]
    victim = chats[5]
    refused = {"code": "no_access", "message": "You are not a member of this chat"}
    workspace.inject(Fault("GET", f"/api/v3/chats/{victim}", "status", status=403, body=refused, times=10))
    path = policy_file(tmp_path, "[limits]\nmax_acts = 1000\n[exclude]\npinned = false\n[mark_read]\n")
    code, report, err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path))
    assert code != 4, err
    assert {c["chat_id"] for c in report["chats"]} == set(chats), f"{len(report['chats'])} of {len(chats)} reported"
    assert {c["chat_id"]: c for c in report["chats"]}[victim]["tool"] is None


# --- The report is written, whatever Cliq says --------------------------------------------------------------


def test_an_act_whose_arguments_our_own_models_refuse_does_not_crash_the_run_unreported(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cliq's answers take any id (responses.Id); the act's arguments are checked by the request models
    (MessageId: digits[_digits]). A last message id in another form is planned, then refused by
    `parse(op.arguments, …)` in _apply, outside its try: the run dies with a traceback, after acting on the
    chats before it, and no report is written at all."""
    from dataclasses import replace

    due = [c for c in workspace.my_chats() if c.unread and len(c.messages) and stale(c, 1) and not c.pinned]
    assert len(due) >= 3
    odd = due[1]
    odd.messages[-1] = replace(odd.messages[-1], message_id="1773813859592-51531973059")
    path = policy_file(tmp_path, "[limits]\nmax_acts = 3\n[mark_read]\ninactive_days = 1\n")
    try:
        code, report, _err = run_tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    except Exception as exc:
        pytest.fail(f"the run crashed without a report after {len(writes(workspace))} write(s): {exc!r}")
    outcome = {c["chat_id"]: c["outcome"] for c in report["chats"] if c["tool"]}
    assert outcome[due[0].chat_id] == "done" and outcome[odd.chat_id] in ("failed", "refused") and code == 1


def test_an_unattended_apply_does_not_act_unaudited(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The policy's confirmation of each act is its audit line. With an audit log that cannot be written, an
    --apply run closes every chat it planned, unaudited, and its report and exit status do not say so (the
    error is logged once, at the log level)."""
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names=""))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    clock = cliq.time
    settings = Settings.from_env(
        env_for(cliq.url, CLIQ_AUDIT_LOG=str(blocker / "audit.jsonl"), XDG_STATE_HOME=str(tmp_path))
    )
    code = tidy_command.main(parsed, settings, cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock)
    _out, err = capsys.readouterr()
    acted = len(closes(workspace))
    assert acted == 0 or (code != 0 and "audit" in err), f"{acted} chats closed with no audit line, exit {code}"
