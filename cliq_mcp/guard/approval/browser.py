"""Opening an approval page in the person's browser, chosen by Python's ``webbrowser`` (so ``$BROWSER`` wins).

The page's URL is a one-time secret. A browser's command line is readable by every local user
(``/proc/<pid>/cmdline``), so the URL is never put there: the browser is given a ``file://`` link to an
owner-only page (0600, in a 0700 directory of this user's) that sends it on to the URL.

In stdio mode this process's stdin and stdout are the MCP connection: a launched command must not inherit
them (browsers print "Opening in existing browser session." to stdout), and a text-mode browser, all that
``webbrowser`` finds on a machine without a display, would take the terminal, so none is started there.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
import webbrowser
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)
LAUNCH_WAIT_S = 10.0  # a launcher still running after this has started a browser
LINK_LIFETIME_S = 600.0  # an approval lives far shorter; older links are removed when a new one is made


def _has_display(environ: Mapping[str, str]) -> bool:
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def _choose(environ: Mapping[str, str]) -> webbrowser.BaseBrowser | None:
    # $BROWSER is read here on every call: ``webbrowser`` reads it only once per process.
    for cmdline in environ.get("BROWSER", "").split(os.pathsep):
        if not cmdline:
            continue
        try:
            return webbrowser.get(cmdline)
        except webbrowser.Error:
            if shutil.which(cmdline):  # a command ``webbrowser`` does not know by name, as it would use it
                return webbrowser.GenericBrowser(cmdline)
    if not _has_display(environ):
        return None
    try:
        return webbrowser.get()
    except webbrowser.Error:
        return None


def _launch(browser: webbrowser.GenericBrowser, url: str) -> bool:
    """What ``GenericBrowser.open`` does, without handing the command our stdin and stdout."""
    args: list[str] = getattr(browser, "args", ["%s"])
    try:
        process = subprocess.Popen(
            [browser.name, *(arg.replace("%s", url) for arg in args)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
    except OSError:
        return False
    try:
        return process.wait(LAUNCH_WAIT_S) == 0
    except subprocess.TimeoutExpired:
        return True


def links_dir(environ: Mapping[str, str]) -> Path | None:
    """This user's own directory for the pages that lead to approval URLs: 0700 and owned by us, or None."""
    base = environ.get("XDG_RUNTIME_DIR") or environ.get("XDG_STATE_HOME")
    if not base and environ.get("HOME"):
        base = f"{environ['HOME']}/.local/state"
    if not base:
        return None
    where = Path(base) / "cliq-mcp" / "approval-links"
    try:
        where.mkdir(parents=True, mode=0o700, exist_ok=True)
        os.chmod(where, 0o700)
        info = os.lstat(where)
    except OSError:
        return None
    ours = stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077 and info.st_uid == os.getuid()
    return where if ours else None


def private_link(url: str, environ: Mapping[str, str]) -> str | None:
    """A ``file://`` URL of an owner-only page that sends the browser on to ``url``; None if none can be made."""
    where = links_dir(environ)
    if where is None:
        return None
    now = time.time()
    for old in where.glob("*.html"):  # links of approvals long closed
        try:
            if now - old.lstat().st_mtime > LINK_LIFETIME_S:
                old.unlink()
        except OSError:
            pass
    target = html.escape(url, quote=True)
    page = (f'<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
            f'<meta http-equiv="refresh" content="0;url={target}"><title>cliq-mcp approval</title>'
            f'<a href="{target}">Open the approval page</a>\n')  # fmt: skip
    path = where / f"{secrets.token_urlsafe(12)}.html"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
    except OSError:
        return None
    return path.as_uri()


def open_in_browser(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Open ``url`` in a browser, through an owner-only page (``private_link``): the URL itself is never in a
    command line. False when none could be started. Blocks while a launcher command runs (up to ten
    seconds): from async code call it with ``anyio.to_thread.run_sync``. Never logs the URL."""
    environ = os.environ if environ is None else environ
    browser = _choose(environ)
    if browser is None:
        logger.warning("No browser could be started for the approval page.")
        return False
    link = private_link(url, environ)
    if link is None:
        logger.warning("No private place for the approval page's link: no browser was started.")
        return False
    if isinstance(browser, webbrowser.GenericBrowser):
        opened = _launch(browser, link)
    else:
        try:
            opened = bool(browser.open(link, new=2))
        except (OSError, webbrowser.Error):
            opened = False
    if not opened:
        logger.warning("The browser did not open the approval page.")
    return opened
