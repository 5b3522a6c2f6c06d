"""Progress for ``cliq-mcp call``: what a long tool (plan_tidy, the bulk tools) reports while it works.

On stderr only, so the JSON on stdout stays what a program reads: a progress bar at a terminal (rich),
one plain line per report when stderr is a file or a pipe (a cron job's log), nothing with ``--quiet``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from cliq_mcp.core.text import clean
from cliq_mcp.tools.row import ReportProgress


@contextmanager
def shown(*, quiet: bool, stream: IO[str] | None = None) -> Iterator[ReportProgress | None]:
    """A progress callback for ``tool_call.call`` (None with ``quiet``), drawn on ``stream`` (stderr)."""
    stream = stream or sys.stderr
    if quiet:
        yield None
    elif stream.isatty():
        with _bar(stream) as report:
            yield report
    else:
        yield _lines(stream)


def _lines(stream: IO[str]) -> ReportProgress:
    async def report(progress: float, total: float | None, message: str | None) -> None:
        counted = f"{progress:g} of {total:g}" if total else f"{progress:g}"
        stream.write(f"cliq-mcp: {clean(message, 200) if message else counted}\n")
        stream.flush()

    return report


@contextmanager
def _bar(stream: IO[str]) -> Iterator[ReportProgress]:
    """A rich progress bar, started at the first report: a call that reports nothing draws nothing."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(file=stream),
    )
    task: list[Any] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        description = clean(message, 80) if message else "working"
        if not task:
            bar.start()
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=progress, total=total, description=description)

    try:
        yield report
    finally:
        if task:
            bar.stop()
