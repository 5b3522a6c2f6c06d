"""The package as people install it from an index: a wheel built from this tree, run with `uvx --from` (uv comes
with the test extra). It must carry what the server reads at start (the served schemas, the sandbox's seed, the
policy example) and run without this checkout."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import outside_env
from test_bundle import REPO, uv


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300, cwd=out, env={**outside_env(), "UV_PYTHON_DOWNLOADS": "never"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("cliq_mcp-*.whl")
    return built


def test_the_wheel_carries_what_the_server_reads(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("cliq_mcp/tool_schemas.json", "cliq_mcp/tidy-policy.example.toml", "cliq_mcp/py.typed"):
        assert needed in names, needed
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text or "License: MIT" in text
    assert "Requires-Python: >=3.10" in text and "Classifier: Programming Language :: Python :: 3.13" in text


def test_uvx_from_the_wheel_runs_a_tool_in_the_sandbox(wheel: Path, tmp_path: Path) -> None:
    # Outside this checkout (cwd elsewhere, no PYTHONPATH): what runs is what the wheel installed.
    env = {**outside_env(), "UV_PYTHON_DOWNLOADS": "never", "PYTHONPATH": "", "HOME": str(tmp_path)}
    env["PATH"] = os.pathsep.join([str(Path(uv()).parent), os.environ["PATH"]])
    uvx = [uv(), "tool", "run", "--from", str(wheel), "cliq-mcp"]
    called = subprocess.run(
        [*uvx, "call", "--sandbox", "--quiet", "list_chats", '{"limit": 2}'],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert called.returncode == 0, called.stderr
    answer = json.loads(called.stdout)
    assert len(answer["chats"]) == 2 and answer["complete"] is False  # the structured answer, as JSON
