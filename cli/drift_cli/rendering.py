"""Printing: tables for people (Rich), JSON and YAML for programs; one `-o` option for every data command."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

PHASE_STYLES = {
    "Succeeded": "green",
    "Failed": "red",
    "TimedOut": "red",
    "Cancelled": "yellow",
    "Running": "cyan",
    "Waiting": "magenta",
    "Pending": "dim",
}


class Format(StrEnum):
    """`-o table|json|yaml`."""

    table = "table"
    json = "json"
    yaml = "yaml"


def console(stderr: bool = False) -> Console:
    """A console; off a terminal, wide enough that tables are not wrapped."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 240, soft_wrap=not stream.isatty())


def dump(data: Any, fmt: Format) -> str:
    """`data` as JSON or YAML text."""
    if fmt == Format.yaml:
        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True)
    return json.dumps(data, indent=2, default=str)


def emit(data: Any, fmt: Format, table: Callable[[Any], Any]) -> None:
    """Print `data` as JSON/YAML, or `table(data)` (a Rich renderable) for people."""
    if fmt == Format.table:
        console().print(table(data))
    else:
        sys.stdout.write(dump(data, fmt) + ("\n" if fmt == Format.json else ""))


def make_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def phase_text(phase: str | None) -> str:
    phase = phase or "Pending"
    return f"[{PHASE_STYLES.get(phase, 'white')}]{phase}[/]"


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def span(seconds: float | None) -> str:
    """A duration like kubectl prints it: 45s, 3m20s, 2h5m, 3d4h."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def between(start: Any, end: Any = None) -> float | None:
    """Seconds from `start` to `end` (now when None)."""
    began = parse_time(start)
    if began is None:
        return None
    ended = parse_time(end) or datetime.now(UTC)
    return max(0.0, (ended - began).total_seconds())


def compact(value: Any, limit: int = 120) -> str:
    """A JSON value on one line, shortened."""
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
