"""`cliq-mcp tidy --policy FILE`: housekeeping by a policy file against the simulated workspace, which knows
every chat's state. What counts is what reached the simulated Cliq, the workspace afterwards, the report
and the exit status."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import Cliq, api_calls, audit_lines, env_for, guarded, outside_env, writes
from simulated_cliq import Fault, Workspace

from cliq_mcp.cli import audit_view
from cliq_mcp.cli import main as cli
from cliq_mcp.cli import tidy as tidy_command
from cliq_mcp.core.config import Settings
from cliq_mcp.core.text import clean
from cliq_mcp.sandbox.render import last_message_info
from cliq_mcp.sandbox.state import Chat

# No MCP session (the command line and the guard only); chats are judged by their age, so the clock starts now.
pytestmark = [pytest.mark.era_independent, pytest.mark.real_now]


NIGHTLY = """\
# close group chats and direct messages nobody has written in for 90 days; never a pinned one
[limits]
max_acts = {most}

[exclude]
pinned = true
names = ["*leadership*", "payroll*"]

[close]
chat_types = ["group_chat", "direct_message"]
inactive_days = 90
"""


def policy_file(tmp_path: Path, text: str, name: str = "nightly.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def stale(chat: Chat, days: int) -> bool:
    return datetime.fromtimestamp(chat.modified_ms / 1000, timezone.utc) < datetime.now(timezone.utc) - timedelta(
        days=days
    )


def shown(name: str) -> str:
    """A name as a person reads it: invisible and control characters do not count (nor dodge a pattern)."""
    return "".join(ch for ch in name if ch.isprintable()).lower()


def selected(workspace: Workspace, most: int) -> list[str]:
    """What NIGHTLY selects, read from the workspace's own state (list order: most recent first)."""
    due = [
        c.chat_id
        for c in workspace.my_chats()
        if c.chat_type in ("group_chat", "direct_message")
        and not c.pinned
        and "leadership" not in shown(c.name)
        and not shown(c.name).startswith("payroll")
        and stale(c, 90)
    ]
    return due[:most]


def tidy(cliq: Cliq, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """`cliq-mcp tidy ... --json` in this process against the simulated Cliq, on the test's fake clock (rate
    windows are waited out at once): exit status, report, stderr."""
    parsed = cli._parser({"tidy"}).parse_args(["tidy", *args, "--json"])
    settings = guarded(cliq, tmp_path)
    time = cliq.time
    code = tidy_command.main(parsed, settings, cliq.transport, sleep=time.sleep, clock=time, wall_clock=time)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def closes(workspace: Workspace) -> list[str]:
    return [
        r.path.rsplit("/", 1)[1]
        for r in writes(workspace)
        if r.method == "PUT" and (r.json or {}).get("operation") == "close_chat"
    ]


def test_a_dry_run_sends_no_write_and_lists_exactly_what_the_policy_selects(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=20))
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path))
    assert code == 0 and report["status"] == "done" and report["applied"] is False
    assert writes(workspace) == []
    planned = [c["chat_id"] for c in report["chats"] if c["outcome"] == "planned"]
    assert planned == selected(workspace, 20)
    assert all(c["tool"] == "close_chat" and c["arguments"] == {"chat_id": c["chat_id"]} for c in report["chats"]
               if c["outcome"] == "planned")  # fmt: skip
    # Every chat considered is in the report, with what the policy says of it.
    assert {c["chat_id"] for c in report["chats"]} == {c.chat_id for c in workspace.my_chats()}
    pinned = {c.chat_id for c in workspace.my_chats() if c.pinned}
    assert {c["chat_id"]: c["reason"] for c in report["chats"] if c["chat_id"] in pinned} == dict.fromkeys(
        pinned, "excluded: pinned"
    )
    due = len(selected(workspace, 10_000))
    assert report["counts"]["over_limit"] == due - 20
    # "Pay\u200broll…": a zero-width space does not slip a chat past an exclusion.
    disguised = [c for c in workspace.my_chats() if c.name.startswith("Pay\u200broll")]
    assert disguised and all(
        c["reason"] == "excluded: name matches 'payroll*'"
        for c in report["chats"]
        if c["chat_id"] == disguised[0].chat_id
    )
    assert "dry run, nothing sent" in err and f"sha256:{report['sha256'][:16]}" in err


def test_apply_closes_exactly_those_and_a_second_run_has_nothing_to_do(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=200))
    expected = selected(workspace, 200)
    assert 20 < len(expected) < 200  # the whole due set fits this run's limit
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 0 and report["status"] == "done" and report["complete"] is True
    assert closes(workspace) == expected
    # More acts than Cliq allows a minute: the run waited for the windows instead of stopping, and says so.
    assert report["waited_s"] > 0 and f"waited {report['waited_s']} s for rate limits" in err
    assert {c.chat_id for c in workspace.chats.values() if c.closed} >= set(expected)
    assert not any(workspace.chats[c].pinned for c in expected)
    assert [c["chat_id"] for c in report["chats"] if c["outcome"] == "done"] == expected
    # Each act is audited with the policy file's name and hash as the confirmation.
    acted = [line for line in audit_lines(tmp_path) if line.get("outcome") == "acted"]
    assert [line["chats"] for line in acted] == [[c] for c in expected]
    assert {line["confirmed_by"] for line in acted} == {f"policy nightly.toml sha256:{report['sha256'][:16]}"}

    before = len(writes(workspace))
    code, again, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 3 and again["status"] == "nothing_to_do" and len(writes(workspace)) == before
    assert "nothing to do" in err


def test_at_most_the_limit_a_run_and_the_next_run_takes_the_rest(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=7))
    due = selected(workspace, 10_000)
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert closes(workspace) == due[:7]
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert closes(workspace) == due[:14]


def test_a_chat_pinned_between_plan_and_act_is_skipped_and_reported(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=3))
    first, second, third = selected(workspace, 3)

    def someone_pins_the_second() -> None:
        workspace.chats[second].pinned = True

    workspace.inject(Fault("PUT", f"/api/v3/chats/{first}", "hook", then=someone_pins_the_second))
    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert closes(workspace) == [first, third]
    outcome = {c["chat_id"]: c for c in report["chats"]}
    assert outcome[second]["outcome"] == "skipped" and "pinned" in outcome[second]["detail"]
    assert [outcome[c]["outcome"] for c in (first, third)] == ["done", "done"]
    assert code == 0  # skipping a chat the policy no longer selects is the policy working
    skipped = [line for line in audit_lines(tmp_path) if line.get("outcome") == "skipped"]
    assert [line["chats"] for line in skipped] == [[second]]
    assert skipped[0]["policy"] == f"policy nightly.toml sha256:{report['sha256'][:16]}"  # which rule skipped it


def test_a_run_stopped_by_cliqs_throttle_reports_the_rest_and_the_next_run_resumes(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=6))
    every = selected(workspace, 10_000)
    due = every[:6]
    throttle = {"code": "rate_limit_exceeded", "message": "Too many requests"}
    workspace.inject(Fault("PUT", f"/api/v3/chats/{due[2]}", "status", status=429, body=throttle))
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 1 and report["status"] == "partly_done" and "throttle" in err
    outcome = {c["chat_id"]: c["outcome"] for c in report["chats"]}
    assert [outcome[c] for c in due] == ["done", "done", "failed", "not_sent", "not_sent", "not_sent"]
    assert closes(workspace) == due[:3]  # nothing sent into Cliq's lock after the throttle
    assert {c for c in every if workspace.chats[c].closed} == set(due[:2])

    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 0
    assert closes(workspace) == [*due[:3], *every[2:8]]  # picks up at the throttled chat; none closed twice
    assert {c for c in every if workspace.chats[c].closed} == set(every[:8])


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[close]\ninactive_days = 90\nmax_act = 5\n", 3, "unknown key 'close.max_act'"),
        ("[close]\nchat_types = ['group_chat']\ninactive_days = '90'\n", 3, "close.inactive_days must be a whole"),
        ("[limits]\nmax_acts = 5\n\n[close]\n", 4, "[close] has neither inactive_days nor names"),
        ("[close]\nchat_types = ['group_chat']\n", 1, "[close] has neither inactive_days nor names"),
        ("[mark_read]\nchat_types = ['bot']\nunread = false\n", 3, "nothing to mark"),
        ("[leave]\ninactive_days = 9\nchat_types = ['direct_message']\n", 3, "Cliq cannot leave"),
        ("[close]\ninactive_days = 9\nmin_members = 5\nmax_members = 2\n", 3, "no chat can match"),
        ("[close]\ninactive_days = 9\nchat_types = ['group']\n", 3, "unknown chat type"),
        ("[exclude]\npinned = 1\n[close]\ninactive_days = 9\n", 2, "exclude.pinned must be true or false"),
        ("[limits]\nmax_acts = 5\n[close]\ninactive_days = 9\nmax_acts = 10\n", 5, "more than limits.max_acts"),
        ("[close\ninactive_days = 9\n", 1, "not valid TOML"),
        ("# nothing but a comment\n", 1, "names no action"),
        ("[purge]\ninactive_days = 9\n", 1, "unknown key 'purge'"),
        ("[close]\ninactive_days = 9\nexclude_names = ['x']\n", 3, "goes in the [exclude] table"),
    ],
)
def test_malformed_or_contradictory_policies_are_refused_with_the_line(
    cliq: Cliq,
    workspace: Workspace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    words: str,
) -> None:
    path = policy_file(tmp_path, text, "bad.toml")
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 2 and report["status"] == "refused" and report["chats"] == []  # the night's line says so
    assert f"bad.toml, line {line}" in err or (f"line {line}" in err and "not valid TOML" in err), err
    assert words in err, err
    assert api_calls(workspace) == []


def test_an_action_the_policy_does_not_name_is_refused_by_the_guard(cliq: Cliq, tmp_path: Path) -> None:
    import anyio

    from cliq_mcp.housekeeping.policy import parse_policy
    from cliq_mcp.serve.server import perform, runtime
    from cliq_mcp.tools.call import Call
    from cliq_mcp.tools.catalogue import BY_NAME
    from cliq_mcp.tools.inputs import parse_arguments

    policy = parse_policy(b"[mark_read]\nchat_types = ['bot']\n", "reading.toml")
    settings = guarded(cliq, tmp_path)
    workspace_chat = "2890538000000012345"

    async def attempt() -> str:
        parts = runtime(settings, transport=cliq.transport, policy=policy)
        op = BY_NAME["close_chat"]
        request = parse_arguments(op.arguments, {"chat_id": workspace_chat})
        call = Call(parts.client)
        try:
            await parts.guard.run(op, request, call, None, lambda: perform(op, request, call, _quiet))
        except Exception as exc:
            return str(exc)
        finally:
            await parts.aclose()
        return "acted"

    refused = anyio.run(attempt)
    assert "not an action the policy reading.toml" in refused
    assert [line["outcome"] for line in audit_lines(tmp_path)] == ["refused"]


async def _quiet(progress: float, total: float | None, message: str | None) -> None:
    return None


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block(kind: str, after: str) -> str:
    text = README.read_text()
    found = re.search(rf"```{kind}\n(.*?)```", text[text.index(after) :], re.S)
    assert found, f"no {kind} block after {after!r} in the README"
    return found.group(1)


def test_the_readmes_cron_line_tidies_the_sandbox_as_its_policy_says(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """The README's cron line, run twice by a shell as cron would, with the README's policy, against the
    simulated workspace on a loopback socket: each run does what the policy says and nothing else, and its
    report says what happened to every chat it considered."""
    section = "## Housekeeping by a policy file"
    cron = readme_block("cron", section).strip()
    command = cron.split(None, 5)[5]  # after minute, hour, day, month, weekday
    home = tmp_path / "home"
    checkout = home / "cliq-mcp"
    checkout.mkdir(parents=True)
    (checkout / ".venv").symlink_to(Path(sys.prefix))  # the venv this suite runs in
    (checkout / "nightly.toml").write_text(readme_block("toml", section))
    env = outside_env() | env_for(cliq_socket.url, HOME=str(home), XDG_STATE_HOME=str(home / "state"))
    before = {c.chat_id: c for c in workspace.my_chats()}
    week = {c.chat_id for c in before.values() if c.chat_type == "bot" and c.unread and stale(c, 7)}
    due = [
        c.chat_id
        for c in before.values()
        if c.chat_type in ("group_chat", "direct_message")
        and not c.pinned
        and "leadership" not in shown(c.name)
        and stale(c, 90)
    ]
    assert len(due) > 50  # more than one run's limit

    for run in (1, 2):
        if run == 2:  # the next night: Cliq's rate windows and ours (a fresh state directory) long expired
            cliq_socket.time.advance(86_400)
            env["XDG_STATE_HOME"] = str(home / "state-next-night")
        done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (done.stdout, done.stderr)
        reports = [json.loads(line) for line in (checkout / "tidy-reports.jsonl").read_text().splitlines()]
        assert len(reports) == run
        report = reports[-1]
        acted = [c for c in report["chats"] if c["outcome"] == "done"]
        assert len(acted) == 50 and report["status"] == "done"
        # Every chat it considered is in the report; the first run considered the whole workspace.
        if run == 1:
            assert {c["chat_id"] for c in report["chats"]} == set(before)
        assert all(c["outcome"] in ("done", "left_alone", "over_limit") for c in report["chats"])
    # What reached Cliq: closes of chats the policy selects, mark-reads of week-old bot chats, nothing else.
    for request in writes(workspace):
        chat = request.path.rsplit("/", 1)[1]
        operation = (request.json or {}).get("operation")
        assert (operation == "close_chat" and chat in due) or (operation == "mark_as_read" and chat in week), request
    assert len(writes(workspace)) == 100
    assert "done (applied)" in (checkout / "tidy.log").read_text()


def test_an_interrupted_run_reports_every_chat_and_the_act_in_flight(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path
) -> None:
    """SIGTERM (a systemd stop, a cron timeout) while an act's request is at Cliq: the report is still whole,
    written once, and says the act in flight may have been applied and the rest were not sent."""
    path = policy_file(tmp_path, NIGHTLY.format(most=5))
    due = selected(workspace, 5)
    stall = workspace.inject(Fault("PUT", f"/api/v3/chats/{due[1]}", "stall"))
    env = outside_env() | env_for(cliq_socket.url, XDG_STATE_HOME=str(tmp_path), HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "tidy", "--policy", str(path), "--apply", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a safety net only
        while stall.taken == 0:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    lines = out.splitlines()
    assert len(lines) == 1  # one report, whole
    report = json.loads(lines[0])
    outcome = {c["chat_id"]: c["outcome"] for c in report["chats"]}
    assert [outcome[c] for c in due] == ["done", "may_have_been_applied", "not_sent", "not_sent", "not_sent"]
    assert report["status"] == "partly_done" and report["stopped"] == "interrupted"
    assert set(outcome) == {c.chat_id for c in workspace.my_chats()} | set(due[:1])
    assert closes(workspace) == due[:2]
    assert "interrupted" in err and "Traceback" not in err


def test_leave_mark_read_and_clear_unread_send_what_cliq_expects(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = """\
[leave]
chat_types = ["channel"]
inactive_days = 365
max_acts = 2

[mark_read]
chat_types = ["direct_message"]
inactive_days = 30
max_acts = 3

[clear_unread]
chat_types = ["group_chat"]
max_acts = 2
"""
    mine = [c for c in workspace.my_chats() if not c.pinned]
    leave = [c.chat_id for c in mine if c.chat_type == "channel" and stale(c, 365)][:2]
    # mark_read needs the last message's id: a chat whose last message Cliq gives in the shape without one
    # (Zoho's LastMessageInfo schema) is left alone, not guessed at.
    read = [c.chat_id for c in mine if c.chat_type == "direct_message" and c.unread and stale(c, 30)
            and "message_id" in (last_message_info(workspace, c) or {})][:3]  # fmt: skip
    clear = [c.chat_id for c in mine if c.chat_type == "group_chat" and c.unread][:2]
    last = {c: workspace.chats[c].visible_messages[-1].message_id for c in read}
    assert len(leave) == 2 and len(read) == 3 and len(clear) == 2
    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, policy)), "--apply")
    assert code == 0, report["stopped"]
    sent = [(r.method, r.path, r.json) for r in writes(workspace)]
    expected = (
        [("POST", f"/api/v3/chats/{c}/leave", None) for c in leave]
        + [("PUT", f"/api/v3/chats/{c}", {"operation": "mark_as_read", "last_message_id": last[c]}) for c in read]
        + [("PUT", "/api/v3/chats", {"operation": "clear_unread", "chat_ids": [c]}) for c in clear]
    )
    assert sorted(sent, key=str) == sorted(expected, key=str)
    assert not any(workspace.is_member(workspace.chats[c]) for c in leave)
    assert all(workspace.chats[c].unread == 0 for c in read + clear)


def test_planning_waits_out_our_rate_window_and_says_how_long(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=5))
    pages = -(-len(workspace.my_chats()) // 100)
    runs = 27 // pages  # 27 list requests a minute: 90 % of Cliq's 30, for the whole account
    for _ in range(runs):
        code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(path))
        assert code == 0 and report["waited_s"] == 0
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path))
    assert code == 0 and report["complete"] is True and report["waited_s"] > 0
    assert f"waited {report['waited_s']} s for rate limits" in err and "chat-list" in err
    lists = [r for r in api_calls(workspace) if r.path == "/api/v3/chats"]
    assert len(lists) == (runs + 1) * pages  # none refused by Cliq, none repeated


def test_planning_stopped_by_cliqs_throttle_does_nothing_and_says_the_plan_is_partial(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    throttle = {"code": "rate_limit_exceeded", "message": "Too many requests"}
    refused = Fault("GET", "/api/v3/chats", "status", status=429, body=throttle)
    workspace.inject(Fault("GET", "/api/v3/chats", "hook", then=lambda: workspace.inject(refused)))
    path = policy_file(tmp_path, NIGHTLY.format(most=500))
    page = [c.chat_id for c in workspace.my_chats()][:100]  # what the one answered list request holds
    due = [c for c in selected(workspace, 10_000) if c in page]
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert code == 1 and report["complete"] is False and "planning stopped" in report["stopped"]
    assert "nothing was done on the partial plan" in report["stopped"]
    assert [c["chat_id"] for c in report["chats"]] == page  # what it judged, as it judged it
    assert writes(workspace) == []  # Cliq's throttle stops the run: no act on a partial plan
    assert [c["chat_id"] for c in report["chats"] if c["outcome"] == "not_sent"] == due and due
    assert "not every chat" in err.lower()


def test_without_credentials_refused_and_with_rejected_ones_failed(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_file(tmp_path, NIGHTLY.format(most=5))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    bare = {"CLIQ_API_BASE_URL": f"{cliq.url}/api/v3", "XDG_STATE_HOME": str(tmp_path)}
    assert tidy_command.main(parsed, Settings.from_env(bare), cliq.transport) == 2
    assert "no Cliq credentials" in capsys.readouterr().err and api_calls(workspace) == []

    rejected = Settings.from_env(bare | {"CLIQ_ACCESS_TOKEN": "not-a-token-1234"})
    assert tidy_command.main(parsed, rejected, cliq.transport) == 4
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["status"] == "failed" and report["chats"] == [] and "planning failed" in report["stopped"]
    assert "not-a-token-1234" not in out + err
    assert writes(workspace) == [] and len(api_calls(workspace)) == 1


def test_chats_this_server_may_not_write_are_planned_as_left_alone(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CLIQ_DENY_CHATS holds two chats the policy selects: the plan leaves them alone (not an act the guard
    would then refuse every night), and the run is done."""
    path = policy_file(tmp_path, NIGHTLY.format(most=5))
    denied = selected(workspace, 2)
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    settings = guarded(cliq, tmp_path, CLIQ_DENY_CHATS=",".join(denied))
    time_ = cliq.time
    code = tidy_command.main(parsed, settings, cliq.transport, sleep=time_.sleep, clock=time_, wall_clock=time_)
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["counts"].get("refused") is None
    reasons = {c["chat_id"]: c["reason"] for c in report["chats"]}
    assert all("may not write to it" in reasons[c] for c in denied)
    assert not set(closes(workspace)) & set(denied) and len(closes(workspace)) == 5


def test_exclusions_are_counted_and_one_that_keeps_out_nothing_is_pointed_out(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "#leadership" keeps out the chat named "Leadership" (a leading # is how channels are written); an
    entry that matches no chat is named in the report and on stderr, before a night run proves it wrong."""
    chat = next(c for c in workspace.my_chats() if c.chat_type == "group_chat" and not c.pinned and stale(c, 90))
    chat.name = "Leadership"
    text_ = NIGHTLY.format(most=500).replace(
        'names = ["*leadership*", "payroll*"]', 'names = ["#leadership", "#no-such"]'
    )
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, text_)))
    assert code == 0
    assert {c["chat_id"]: c["reason"] for c in report["chats"]}[chat.chat_id] == "excluded: name matches '#leadership'"
    assert report["excluded"]["counts"]["name matches '#leadership'"] == 1
    assert report["excluded"]["unused"] == ["names '#no-such'"] and "names '#no-such'" in err


def test_two_runs_of_one_account_do_not_overlap(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl
    import hashlib

    settings = guarded(cliq, tmp_path)
    # The machine's lock does not depend on the state directory a run was given (another run may use another).
    lock = Path(os.environ["XDG_RUNTIME_DIR"]) / "cliq-mcp" / (
        f"tidy-{hashlib.sha256(settings.account.encode()).hexdigest()[:16]}.lock")  # fmt: skip
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other run, with its own state directory
        code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=5))),
                                 "--apply")  # fmt: skip
    assert code == 2 and report["status"] == "refused" and "another `cliq-mcp tidy`" in err
    assert api_calls(workspace) == []
    code, _report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=5))))
    assert code == 0  # the lock goes with the run that held it


def test_a_run_killed_on_another_machine_frees_the_account_within_its_lease(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run on another machine (sharing the state store) holds the account's lease; killed, it renews it no
    more, and the lease ends within two minutes: a refusal says when, and the next run after that goes on."""
    import anyio

    from cliq_mcp.core.state_store import open_store

    settings = guarded(cliq, tmp_path)
    store = open_store(settings.guard.state_url or "", clock=cliq.time)
    lease = f"{settings.account}:tidy-run"
    assert anyio.run(store.lease, lease, "a run on another machine", 120.0) == 0
    policy = str(policy_file(tmp_path, NIGHTLY.format(most=5)))
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", policy)
    assert code == 2 and "its lease ends in 120 s" in err and "wait and run again" in err
    cliq.time.advance(121)  # that run was killed: nobody renewed the lease
    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", policy)
    assert code == 0, report
    anyio.run(store.aclose)


def test_the_audit_view_finds_a_tidy_act_by_its_chats_title(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every path that writes the audit log is read back by `cliq-mcp audit`: a tidy act, found by title."""
    code, report, _ = tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, NIGHTLY.format(most=1))),
                           "--apply")  # fmt: skip
    assert code == 0, report
    (act,) = [c for c in report["chats"] if c["outcome"] == "done"]
    title = workspace.chats[act["chat_id"]].name
    entries, unreadable = audit_view.read(tmp_path / "audit.jsonl")
    found = [e for e in entries if any(c.id == act["chat_id"] and c.title == clean(title, 200) for c in e.chats)]
    assert unreadable == 0 and [(e.tool, e.outcome) for e in found] == [("close_chat", "acted")]
    assert found[0].confirmed_by and "policy nightly.toml" in found[0].confirmed_by
