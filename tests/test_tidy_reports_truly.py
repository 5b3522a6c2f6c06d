"""A second attacking review of housekeeping by a policy file, on the fixed version (after the first one,
test_tidy_acts_only_as_its_policy_says.py). Each test is a hole found, fixed since.

What counts is observable: the requests that reached the simulated Cliq, the report, the exit status, the
tool's answer.

- Name matching (tidy_policy.normal / matches): a leading "#" dropped from an *inclusion* pattern makes
  `[leave] names = ["#*"]` ("the channels") select every group chat; fullwidth "？" folded by NFKC becomes a
  glob wildcard in an inclusion pattern; invisible characters that are not Cf (U+034F, variation selectors)
  still slip a name past an exclusion; an invisible character before the "#" keeps it (the "#" is dropped
  before invisibles are), so `names = ["#leadership"]` misses "\\u2068#leadership\\u2069".
- preview_policy: it ignores CLIQ_DENY_CHATS / CLIQ_WRITE_CHATS, so the acts it calls "all the acts a run
  would do now" are not the run's; stopping at the run's limit, it calls exclusions that keep out later chats
  "unused" in an answer that says complete.
- The walk: a next_token Cliq repeats ends the walk as "complete" with chats never judged.
- The run lock: a state path whose directory cannot be made crashes the run with a traceback and no JSON line.

- preview_policy again: a continuation whose last chat moved judged its page again (chats twice, planned
  twice, the limit spent on them).
- With CLIQ_STATE_URL=redis://… (replicas on several machines) there was no run lock at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Cliq, guarded, text, writes
from simulated_cliq import FakeTime, Fault, Workspace
from test_tidy import NIGHTLY, closes, policy_file, selected, stale, tidy

pytestmark = [pytest.mark.era_independent, pytest.mark.real_now]


def leaves(workspace: Workspace) -> list[str]:
    return [r.path.split("/")[-2] for r in writes(workspace) if r.method == "POST" and r.path.endswith("/leave")]


def stale_of(workspace: Workspace, chat_type: str, days: int = 90) -> list[str]:
    return [c.chat_id for c in workspace.my_chats() if c.chat_type == chat_type and not c.pinned and stale(c, days)]


# --- Inclusion patterns ("only these") must not widen -----------------------------------------------------


def test_a_hash_inclusion_pattern_for_leave_does_not_select_group_chats(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[leave] names = ["#*"]` is how a person writes "the channels" (the README: a leading "#" as channels are
    written). normal() drops the "#", the pattern becomes "*", and the run leaves inactive *group chats*
    (destructive: one is out until someone adds them back)."""
    groups = stale_of(workspace, "group_chat", 30)
    assert groups
    policy = '[limits]\nmax_acts = 5\n\n[leave]\nnames = ["#*"]\ninactive_days = 30\n'
    tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, policy)), "--apply")
    left_groups = [c for c in leaves(workspace) if workspace.chats[c].chat_type != "channel"]
    assert left_groups == [], f"left {len(left_groups)} group chat(s) for names = ['#*']"


def test_a_fullwidth_question_mark_in_an_inclusion_pattern_is_not_a_wildcard(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A person copies a CJK-punctuated name, "Offsite？" (U+FF1F), into `[leave] names`. NFKC folds it to
    "offsite?", a glob: "Offsites" (another chat) is left too."""
    meant, other = stale_of(workspace, "group_chat")[3:5]
    workspace.chats[meant].name = "Offsite？"
    workspace.chats[other].name = "Offsites"
    policy = '[leave]\nchat_types = ["group_chat"]\nnames = ["Offsite？"]\ninactive_days = 30\n'
    tidy(cliq, tmp_path, capsys, "--policy", str(policy_file(tmp_path, policy)), "--apply")
    assert meant in leaves(workspace)
    assert other not in leaves(workspace), "a chat named 'Offsites' was left for names = ['Offsite？']"


# --- Exclusions that still do not exclude ------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "name",
    ["Lead\u034fership offsite", "Leader\ufe0fship offsite", "Leader\U000e0100ship offsite"],
    ids=["combining-grapheme-joiner", "variation-selector-16", "variation-selector-17"],
)
def test_an_invisible_combining_character_does_not_slip_past_an_exclusion(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """normal() drops Cc/Cf/Co/Cs/Cn, but these invisible default-ignorable characters are Mn: the name reads
    "Leadership offsite" and is closed despite `*leadership*`."""
    chat = stale_of(workspace, "group_chat")[3]
    workspace.chats[chat].name = name
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"*leadership*"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), f"{name!r} was closed despite *leadership*"


def test_an_invisible_character_before_the_hash_does_not_slip_past_an_exclusion(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """normal() drops a leading "#" before it drops invisible characters: a name wrapped in bidi isolates
    (as some clients write it), "\\u2068#leadership\\u2069", reads "#leadership" but normalises to
    "#leadership" while the README's own `names = ["#leadership"]` normalises to "leadership"."""
    chat = stale_of(workspace, "group_chat")[3]
    workspace.chats[chat].name = "\u2068#leadership\u2069"
    path = policy_file(tmp_path, CLOSE_GROUPS.format(names='"#leadership"'))
    tidy(cliq, tmp_path, capsys, "--policy", str(path), "--apply")
    assert chat not in closes(workspace), "a chat reading '#leadership' was closed despite names = ['#leadership']"


# --- preview_policy: what it says a run would do --------------------------------------------------------------


async def preview(cliq: Cliq, era: str, arguments: dict[str, Any], **env: str) -> Any:
    from mcp import Client

    async with Client(cliq.server(cliq.settings(**env)), mode=era) as client:
        return await client.call_tool("preview_policy", arguments)


def test_the_preview_leaves_alone_the_chats_this_server_may_not_write_as_the_run_does(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With CLIQ_DENY_CHATS holding the first chat due, the run plans it as left alone and closes the next three;
    the preview (same settings) still lists it as an act and stops at the limit, saying "these are all the acts
    a run would do now (complete)": the person approves a plan that is not the one that runs."""
    denied = selected(workspace, 1)[0]
    import anyio

    result = anyio.run(lambda: preview(cliq, "auto", {"policy": NIGHTLY.format(most=3)}, CLIQ_DENY_CHATS=denied))
    previewed = [c["chat_id"] for c in result.structured_content["chats"] if c.get("tool")]

    path = policy_file(tmp_path, NIGHTLY.format(most=3))
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    clock = cliq.time
    tidy_command.main(parsed, guarded(cliq, tmp_path, CLIQ_DENY_CHATS=denied), cliq.transport, sleep=clock.sleep,
                      clock=clock, wall_clock=clock)  # fmt: skip
    capsys.readouterr()
    assert denied not in closes(workspace)
    assert previewed == closes(workspace), f"preview said {previewed}, the run closed {closes(workspace)}"


async def test_a_preview_stopped_at_the_limit_does_not_call_working_exclusions_unused(
    cliq: Cliq, workspace: Workspace, era: str
) -> None:
    """The preview stops once the run's limit is planned and says it is complete; the chats after that were
    never judged, yet the exclusions that keep them out are listed as "kept out no chat judged (check them)":
    the feature meant to catch a mistyped exclusion tells the person to remove one that works (the run itself,
    which judges every chat, uses it)."""
    from test_tidy import shown

    result = await preview(cliq, era, {"policy": NIGHTLY.format(most=1)})
    data = result.structured_content
    assert data["complete"] is True and data["limit_reached"] is True
    names = [c.name for c in workspace.my_chats()]
    working = {"names 'payroll*'": any(shown(n).startswith("payroll") for n in names)}
    assert all(working.values())  # it keeps out a chat of this workspace
    flagged = [e for e in data.get("unused_exclusions") or [] if working.get(e)]
    assert flagged == [], f"a complete preview calls working exclusions unused: {flagged}; {text(result)[-300:]}"


def lists_without_unread(fake_time: FakeTime) -> tuple[Cliq, Workspace]:
    import httpx
    from simulated_cliq import observed

    workspace = Workspace(clock=fake_time)  # lists without counts for about half the chats
    return Cliq("http://cliq.test", httpx.ASGITransport(app=observed(workspace)), fake_time), workspace


async def test_a_preview_continued_after_its_last_chat_moved_does_not_judge_chats_twice(
    fake_time: FakeTime, era: str
) -> None:
    """The preview stops mid-page (get_chat's rate window; lists without unread counts) with a cursor "after
    chat X". Before it is continued, X is closed (or gets a message and moves up). The continuation does not
    find X on the page and judges the whole page again: chats of the first answer come back, planned twice,
    each spending the run's limit (which "counts across calls")."""
    from mcp import Client

    cliq, workspace = lists_without_unread(fake_time)
    policy = "[limits]\nmax_acts = 1000\n[exclude]\npinned = false\n[mark_read]\n"
    async with Client(cliq.server(cliq.settings()), mode=era) as client:
        first = await client.call_tool("preview_policy", {"policy": policy, "every_chat": True})
        data = first.structured_content
        assert data["complete"] is False and data["judged"] % 100, text(first)[-300:]  # stopped mid-page
        last = data["chats"][-1]["chat_id"]
        workspace.chats[last].closed = True  # the person closes it in Cliq meanwhile
        fake_time.advance((data.get("retry_after_s") or 60) + 1)
        rest = await client.call_tool("preview_policy", {"policy": policy, **data["continue_with"]})
    again = {c["chat_id"] for c in data["chats"]} & {c["chat_id"] for c in rest.structured_content["chats"]}
    assert again == set(), f"{len(again)} chats of the first answer judged (and planned) again"


# --- The walk: "complete" only when every chat was judged -----------------------------------------------------


def test_a_next_token_cliq_repeats_does_not_end_the_walk_as_complete(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cliq answers the second page with no chats and a next_token, and the third with the same token again (a
    loop on its side). The walk stops, rightly, but reports `complete: true` ("every chat") and exit 0, with
    127 chats never judged."""
    looping = Fault("GET", "/api/v3/chats", "status", status=200, body={"chats": [], "next_token": "c2FtZQ"}, times=2)
    workspace.inject(Fault("GET", "/api/v3/chats", "hook", then=lambda: workspace.inject(looping)))
    path = policy_file(tmp_path, NIGHTLY.format(most=500))
    code, report, err = tidy(cliq, tmp_path, capsys, "--policy", str(path))
    assert looping.taken == 2
    judged = len(report["chats"])
    assert judged < len(workspace.my_chats())
    assert report["complete"] is False and code == 1, f"{judged} of {len(workspace.my_chats())} judged: {err}"


# --- One run per account at a time ------------------------------------------------------------------------------


def test_runs_do_not_overlap_with_a_redis_state_store(
    cliq_socket: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    """The README: "another run of the same account still going: runs never overlap" (exit 2). The lock is a
    file next to the SQLite store; with CLIQ_STATE_URL=redis://… (the documented store for several machines)
    there is no lock at all. A second run started while the first is held at its third act plans afresh and
    closes three more: the two close more than max_acts chats between them, and the second exits 0."""
    import subprocess
    import sys
    import time

    from conftest import env_for, outside_env

    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command
    from cliq_mcp.core.config import Settings

    path = policy_file(tmp_path, NIGHTLY.format(most=3))
    due = selected(workspace, 3)
    env = env_for(cliq_socket.url, CLIQ_STATE_URL=redis_url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
                  XDG_STATE_HOME=str(tmp_path), HOME=str(tmp_path))  # fmt: skip
    held = workspace.inject(Fault("PUT", f"/api/v3/chats/{due[2]}", "stall"))
    first = subprocess.Popen(
        [sys.executable, "-m", "cliq_mcp", "tidy", "--policy", str(path), "--apply", "--json"],
        env=outside_env() | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # a safety net only
        while held.taken == 0:
            assert first.poll() is None and time.monotonic() < deadline, first.stderr and first.stderr.read()
            time.sleep(0.02)
        parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
        clock = cliq_socket.time
        second = tidy_command.main(parsed, Settings.from_env(env), None, sleep=clock.sleep, clock=clock,
                                   wall_clock=clock)  # fmt: skip
        capsys.readouterr()
    finally:
        first.kill()
        first.communicate(timeout=30)
    closed = set(closes(workspace))
    assert second == 2 and len(closed) <= 3, (
        f"a run started while another was acting exited {second}; together they closed {len(closed)}, max_acts 3"
    )


def test_a_state_directory_the_lock_cannot_be_made_in_is_a_refused_run_with_its_json_line(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CLIQ_STATE_URL under a path that is not a directory: the lock's mkdir raises out of tidy.main, a
    traceback instead of the run's one JSON line (the README: "With --json every run writes its one line, a
    refused one too") and no exit status of the documented set."""
    from conftest import env_for

    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command
    from cliq_mcp.core.config import Settings

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    path = policy_file(tmp_path, NIGHTLY.format(most=3))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    settings = Settings.from_env(env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
                                         CLIQ_STATE_URL=str(blocker / "state.sqlite3")))  # fmt: skip
    clock = cliq.time
    try:
        code = tidy_command.main(parsed, settings, cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock)
    except Exception as exc:
        pytest.fail(f"tidy crashed with no report line: {exc!r}")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and json.loads(out[0])["exit"] == code and code in (1, 2, 4)
    assert writes(workspace) == []


def test_with_a_redis_store_a_finished_run_gives_its_lease_back(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    path = policy_file(tmp_path, NIGHTLY.format(most=3))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    clock = cliq.time
    settings = guarded(cliq, tmp_path, CLIQ_STATE_URL=redis_url)
    codes = [tidy_command.main(parsed, settings, cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock)]
    codes += [tidy_command.main(parsed, settings, cliq.transport, sleep=clock.sleep, clock=clock, wall_clock=clock)]
    capsys.readouterr()
    assert codes == [0, 0]  # the second run was not refused: the first gave its lease back
    assert len(set(closes(workspace))) == 6  # and it closed the next three


# --- Third review (re2): holes found in the fixed version, failing until fixed -------------------------------


def test_a_deeply_nested_policy_file_is_a_refused_run_with_its_json_line_not_a_traceback(
    cliq: Cliq, workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tomllib parses nested arrays recursively: a 10 KB policy `a = [[[[...]]]]` raises RecursionError, which
    parse() does not catch (only TOMLDecodeError). `cliq-mcp tidy` dies with a traceback, no JSON line, and
    Python's exit status 1, which the documented codes read as "partly done" instead of 2 "refused"."""
    from cliq_mcp.cli import main as cli
    from cliq_mcp.cli import tidy as tidy_command

    depth = 5000
    path = policy_file(tmp_path, "a = " + "[" * depth + "]" * depth + "\n" + NIGHTLY.format(most=3))
    parsed = cli._parser({"tidy"}).parse_args(["tidy", "--policy", str(path), "--apply", "--json"])
    clock = cliq.time
    try:
        code = tidy_command.main(parsed, guarded(cliq, tmp_path), cliq.transport, sleep=clock.sleep, clock=clock,
                                 wall_clock=clock)  # fmt: skip
    except RecursionError:
        pytest.fail("a deeply nested policy file crashed `cliq-mcp tidy` (RecursionError): no report, exit 1")
    out, _err = capsys.readouterr()
    assert code == 2 and json.loads(out)["status"] == "refused"
    assert writes(workspace) == []


async def test_a_deeply_nested_policy_given_to_preview_policy_is_an_invalid_argument(
    cliq: Cliq, workspace: Workspace
) -> None:
    """The same text from a model to preview_policy is not refused as a policy (InvalidArguments naming the
    problem): the RecursionError escapes the tool as the server's generic failure."""
    depth = 5000
    result = await preview(cliq, "auto", {"policy": "a = " + "[" * depth + "]" * depth + "\n" + NIGHTLY.format(most=3)})
    assert result.is_error
    assert "TOML" in text(result) or "policy" in text(result).lower(), text(result)
    assert "RecursionError" not in text(result) and "unexpected" not in text(result).lower(), text(result)


def test_without_a_state_directory_two_runs_of_one_account_still_do_not_overlap(cliq: Cliq, tmp_path: Path) -> None:
    """With CLIQ_AUDIT_LOG set (so --apply is allowed) but no XDG_STATE_HOME, HOME or CLIQ_STATE_URL (a bare
    cron or container environment), state_url is None and _one_run_at_a_time yields "" without any lock: two
    overlapping runs of one account each act up to max_acts, which the run lock exists to prevent."""
    from conftest import env_for

    from cliq_mcp.cli import tidy as tidy_command
    from cliq_mcp.core.config import Settings

    settings = Settings.from_env(env_for(cliq.url, CLIQ_AUDIT_LOG=str(tmp_path / "audit.jsonl")))
    assert settings.guard.state_url is None
    with tidy_command.one_run_at_a_time(settings) as first:
        assert first == ""
        with tidy_command.one_run_at_a_time(settings) as second:
            assert second != "", "a second run of the same account started while the first held the run lock"
