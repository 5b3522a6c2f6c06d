"""Files only their owner may read: credentials, and later the audit log and the state store.

Each file is owner-only (0600) from its first byte, because it is created with that mode rather than
chmod-ed afterwards; a directory we create is 0700. Symlinks at the file's path are never followed,
so a link planted there cannot redirect a write. A written file is replaced atomically: a reader sees
the old content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import TextIO

FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX; Windows has no symlinks to guard against here


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if it is missing; the directory itself 0700.

    An existing directory is left as it is: it may be shared on purpose (``--credentials-file /tmp/x``).
    """
    if path.is_dir():
        return
    path.mkdir(parents=True, mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask, which may have taken bits away


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``data`` (str as UTF-8) to ``path``, owner-only, replacing any file (or symlink) there atomically."""
    private_dir(path.parent)
    content = data.encode("utf-8") if isinstance(data, str) else data
    # A fresh random name, created exclusively: nothing can be waiting there (O_EXCL refuses a symlink too).
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)  # replaces a symlink at ``path`` itself, never the file it points to
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_dir(path.parent)


def open_private_fd(path: Path) -> int:
    """A file descriptor appending to ``path`` (raw bytes), created owner-only as ``open_private_append`` does."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0), FILE_MODE)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a device, a pipe: not a file a line can be kept in (nor ours to chmod)
            raise OSError(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_append(path: Path) -> TextIO:
    """Open ``path`` for appending text, creating it owner-only (and its directory 0700) if missing.

    A symlink at ``path`` is refused (``OSError``); an existing file readable by others is narrowed to
    0600, since whatever it holds is written by us and private.
    """
    fd = open_private_fd(path)
    try:
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _sync_dir(directory: Path) -> None:
    """Make the rename itself durable; best effort (not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
