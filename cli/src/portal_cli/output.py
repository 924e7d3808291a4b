"""What ``portal`` prints: the API's JSON as it came (``--json``), or tables and lines for people (rich).

Results go to stdout, progress and errors to stderr, so ``portal … --json | jq`` reads only JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# A console not on a terminal (a CI log, a pipe) gets this width rather than rich's 80, so tables do not fold.
PIPE_WIDTH = 200

ENVIRONMENT_STATUS_WORDS = {
    "pending_approval": "waiting for approval",
    "provisioning": "provisioning",
    "ready": "ready",
    "failed": "failed",
    "rejected": "rejected",
    "tearing_down": "tearing down",
    "torn_down": "torn down",
    "cancelled": "cancelled",
}
# Who approves: the API's codes as the pages say them.
APPROVER_WORDS = {"team_lead": "team lead", "platform_admin": "platform admin"}


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout or stderr (made per call: a test's runner swaps them)."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream,
        width=None if terminal else PIPE_WIDTH,
        highlight=False,
        soft_wrap=not terminal,
        emoji=False,
    )


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def say(message: str) -> None:
    """A line for people on stdout (a result, not progress)."""
    console().print(Text(message))


def note(message: str) -> None:
    """A line for people on stderr (progress, hints), which a ``--json`` reader never sees."""
    console(stderr=True).print(Text(message))


def words(value: Any) -> str:
    """A value as a table cell: empty for none, yes/no, a status in words, a date without its microseconds."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if value in ENVIRONMENT_STATUS_WORDS:
            return ENVIRONMENT_STATUS_WORDS[value]
        if value in APPROVER_WORDS:
            return APPROVER_WORDS[value]
        moment = _moment(value)
        if moment is not None:
            return moment
        return value
    if isinstance(value, list):
        return ", ".join(words(item) for item in value) or "—"
    return str(value)


def _moment(value: str) -> str | None:
    if len(value) < 19 or value[4] != "-" or value[10] != "T":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    offset = moment.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else offset
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    grid = Table(*columns, box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False)
    for row in rows:
        grid.add_row(*(Text(words(cell)) for cell in row))
    console().print(grid)


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """One object as ``label  value`` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in pairs:
        grid.add_row(Text(label), Text(words(value)))
    console().print(grid)


def money(amount: Any, currency: Any) -> str:
    if amount in (None, ""):
        return "—"
    return f"{amount} {currency or ''}".strip()
