"""A small mutation check: each mutant is a one-line change to the guard, the summaries' completeness, the
policy judge or another place where a wrong character would tell the user something untrue or act without
a yes; the tests named beside it must fail with it in place. Run by .ci/run; exits 1 if any mutant survives.

    .venv/bin/python scripts/mutants.py            # every mutant
    .venv/bin/python scripts/mutants.py --list     # what they are

Each mutant is applied to the working tree, its tests run, and the file restored (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    Mutant("all=true passes a deny list", "cliq_mcp/guard/decide.py",
           'if getattr(request, "all", False) and (config.write_allow or config.write_deny):',
           'if getattr(request, "all", False) and (config.write_allow):',
           ("tests/test_edges.py::test_clearing_every_chat_is_refused_while_a_deny_list_is_set",)),
    Mutant("a throttled batch says complete", "cliq_mcp/tools/summaries.py",
           "answer.complete, answer.why, answer.retry_after_s = False, why, retry_after_s",
           "answer.complete, answer.why, answer.retry_after_s = True, why, retry_after_s",
           ("tests/test_edges.py::test_a_batch_cut_by_a_throttle_is_not_complete_and_names_the_rest",)),
    Mutant("an untold pinned state is not excluded", "cliq_mcp/housekeeping/policy.py",
           "if self.exclude.pinned and chat.pinned is None:",
           "if False and self.exclude.pinned and chat.pinned is None:",
           ("tests/test_edges.py::test_a_chat_whose_pinned_state_is_not_told_is_never_acted_on",)),
    Mutant("inactive_days off by one", "cliq_mcp/housekeeping/policy.py",
           "if now - chat.last_active <= timedelta(days=rule.inactive_days):",
           "if now - chat.last_active < timedelta(days=rule.inactive_days):",
           ("tests/test_edges.py::test_inactive_days_counts_whole_days_and_no_more",)),
    Mutant("max_members off by one", "cliq_mcp/housekeeping/policy.py",
           "if rule.max_members is not None and chat.members > rule.max_members:",
           "if rule.max_members is not None and chat.members >= rule.max_members:",
           ("tests/test_edges.py::test_members_bounds_are_inclusive",)),
    Mutant("the re-check lets another due action through", "cliq_mcp/housekeeping/plan.py",
           "    if verdict.action == action:\n        return \"\", name",
           "    if verdict.action is not None:\n        return \"\", name",
           ("tests/test_edges.py::test_the_recheck_before_an_act_refuses_a_chat_now_due_for_another_action",)),
    Mutant("a walk's cursor is not bound to its criteria", "cliq_mcp/tools/walks.py",
           'return fingerprint({"tool": operation_name(request), **to_jsonable_python(kept)})',
           'return fingerprint({"tool": operation_name(request)})',
           ("tests/test_walks_told_truly.py",)),
    Mutant("a form field given twice is read", "cliq_mcp/guard/approval/web.py",
           "return {key: values[0] for key, values in fields.items() if len(values) == 1}",
           "return {key: values[-1] for key, values in fields.items()}",
           ("tests/test_approval_page.py::test_a_field_or_host_given_twice_is_no_answer",)),
    Mutant("an unknown unread count is shown as 0", "cliq_mcp/tools/summaries.py",
           "unread = UNKNOWN if c.unread is None else str(c.unread)",
           'unread = "0" if c.unread is None else str(c.unread)',
           ("tests/test_unknown_fields.py::test_a_list_says_which_unread_counts_it_does_not_know",)),
    Mutant("a destructive act goes out off the record", "cliq_mcp/guard/decide.py",
           "            self.audit.intent(**note)\n            return await plain_act()",
           "            return await plain_act()",
           ("tests/test_audit_or_nothing.py",)),
)  # fmt: skip


def run(mutant: Mutant) -> bool:
    """True if the mutant was killed (its tests failed with it in place)."""
    path = REPO / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        raise SystemExit(f"mutant {mutant.what!r}: its line is not in {mutant.path} exactly once; update it")
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-n0", "-p", "no:cacheprovider",
                               *mutant.tests], cwd=REPO, capture_output=True, text=True)  # fmt: skip
    finally:
        path.write_text(original)
    return done.returncode != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    args = parser.parse_args()
    if args.list:
        for m in MUTANTS:
            print(f"{m.what}: {m.path} -> {', '.join(m.tests)}")
        return 0
    survivors = []
    for mutant in MUTANTS:
        killed = run(mutant)
        print(f"{'killed  ' if killed else 'SURVIVED'} {mutant.what}")
        survivors += [] if killed else [mutant.what]
    print(f"{len(MUTANTS) - len(survivors)} of {len(MUTANTS)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
