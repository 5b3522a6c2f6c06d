"""Opening an approval page in the person's browser, chosen by Python's ``webbrowser`` (so ``$BROWSER`` wins).

In stdio mode this process's stdin and stdout are the MCP connection: a launched command must not inherit
them (browsers print "Opening in existing browser session." to stdout), and a text-mode browser, all that
``webbrowser`` finds on a machine without a display, would take the terminal, so none is started there.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Mapping

logger = logging.getLogger(__name__)
LAUNCH_WAIT_S = 10.0  # a launcher still running after this has started a browser


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


def open_in_browser(url: str, environ: Mapping[str, str] | None = None) -> bool:
    """Open ``url`` in a browser; False when none could be started. Blocks while a launcher command runs
    (up to ten seconds): from async code call it with ``anyio.to_thread.run_sync``. Never logs the URL."""
    browser = _choose(os.environ if environ is None else environ)
    if browser is None:
        logger.warning("No browser could be started for the approval page.")
        return False
    if isinstance(browser, webbrowser.GenericBrowser):
        opened = _launch(browser, url)
    else:
        try:
            opened = bool(browser.open(url, new=2))
        except (OSError, webbrowser.Error):
            opened = False
    if not opened:
        logger.warning("The browser did not open the approval page.")
    return opened
