"""Owner-only files: what is on disk after writing, and that a symlink at the path is never followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cliq_mcp.core.private_files import open_private_append, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_write_private_creates_an_owner_only_file_in_an_owner_only_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "secret.json"
    old_umask = os.umask(0)  # even with nothing masked, nobody else gets a bit
    try:
        write_private(path, "{}\n")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "{}\n"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["secret.json"]  # no temporary file left behind


def test_write_private_replaces_a_readable_file_and_leaves_an_existing_directory_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new" and mode(path) == 0o600
    assert mode(tmp_path) == 0o755


def test_write_private_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    path = tmp_path / "secret"
    path.symlink_to(target)
    write_private(path, "mine")
    assert not path.is_symlink() and path.read_text() == "mine" and mode(path) == 0o600
    assert target.read_text() == "untouched"


def test_open_private_append_appends_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.jsonl"
    for line in ("one\n", "two\n"):
        with open_private_append(path) as out:
            out.write(line)
    assert path.read_text() == "one\ntwo\n"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_open_private_append_narrows_a_readable_file_and_refuses_a_symlink(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("old\n")
    path.chmod(0o644)
    with open_private_append(path) as out:
        out.write("new\n")
    assert path.read_text() == "old\nnew\n" and mode(path) == 0o600

    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with pytest.raises(OSError):
        open_private_append(link)
    assert target.read_text() == "untouched"
