"""scripts/inspector.sh finds cliq-mcp however it was installed, and says which install it used.

Only the detection is tested here (`--which`): the whole script, six Inspector runs through npx, takes
about 45 s, too long for the suite; it is run by hand (README)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import outside_env

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "inspector.sh"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def which(tmp_path: Path, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The script copied out of any checkout (no .venv beside it), asked which install it would use."""
    copy = tmp_path / "elsewhere" / "scripts" / "inspector.sh"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPT, copy)
    return subprocess.run(
        ["bash", str(copy), "--which"], capture_output=True, text=True, timeout=60,
        env={**outside_env(), "PATH": path, **env},
    )  # fmt: skip


def folder_with(tmp_path: Path, name: str, target: str) -> Path:
    """A folder holding only ``name``, a stand-in that runs ``target`` (as pipx or a distro would install it)."""
    folder = tmp_path / f"bin-{name}"
    folder.mkdir()
    (folder / name).write_text(f'#!/bin/sh\nexec {target} "$@"\n')
    (folder / name).chmod(0o755)
    return folder


def test_a_console_script_on_path(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cliq-mcp"
    assert script.is_file(), "the package's console script is installed beside the interpreter"
    done = which(tmp_path, f"{script.parent}:{SYSTEM_PATH}")
    assert done.returncode == 0, done.stderr
    assert f"using the cliq-mcp console script on PATH: {script}" in done.stderr


def test_python_m_cliq_mcp_when_there_is_no_console_script(tmp_path: Path) -> None:
    python = folder_with(tmp_path, "python3", sys.executable)  # a python3 that imports cliq_mcp
    done = which(tmp_path, f"{python}:{SYSTEM_PATH}")
    assert done.returncode == 0, done.stderr
    assert f"using python3 -m cliq_mcp: {python / 'python3'} -m cliq_mcp" in done.stderr


def test_no_install_is_a_clear_error_and_cliq_mcp_picks_one(tmp_path: Path) -> None:
    nothing = folder_with(tmp_path, "python3", "/bin/false")  # a python3 without cliq_mcp
    missing = which(tmp_path, f"{nothing}:{SYSTEM_PATH}")
    assert missing.returncode == 2 and "no cliq-mcp found" in missing.stderr
    chosen = which(tmp_path, SYSTEM_PATH, CLIQ_MCP=f"{sys.executable} -m cliq_mcp")
    assert chosen.returncode == 0 and f"using CLIQ_MCP: {sys.executable} -m cliq_mcp" in chosen.stderr


def test_from_the_checkout_it_uses_the_checkout_s_environment() -> None:
    venv = SCRIPT.parents[1] / ".venv" / "bin" / "cliq-mcp"
    done = subprocess.run(["bash", str(SCRIPT), "--which"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"using this checkout's virtual environment: {venv}" in done.stderr  # the README's install, and CI's
