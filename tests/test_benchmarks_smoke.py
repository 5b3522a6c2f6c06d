"""The benchmark still runs end to end (a smoke run: nothing here judges a time or a ratio)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import outside_env

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_run_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    env = outside_env()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    for row in ("whole tools/list", "get_chat latency median", "cold start", "RSS after", "full walk"):
        assert row in text
