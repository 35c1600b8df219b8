"""The faults table: printed, and written into the README between its chaos markers."""

from __future__ import annotations

import datetime

from bench.report import replace_in_readme

from .scenario import Outcome

START, END = "<!-- chaos:start -->", "<!-- chaos:end -->"


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def table(outcomes: list[Outcome]) -> str:
    """Markdown: fault | runs lost | duplicate side effects | time to recover | notes."""
    rows = ["| fault (kill -9) | runs lost | duplicate side effects | time to recover | notes |", "|---" * 5 + "|"]
    for o in outcomes:
        notes = [f"killed with {o.killed_at_progress}/{o.runs} runs under way",
                 f"back up {o.restart_seconds:.1f} s after the kill",
                 f"all {o.runs} finished {_seconds(o.all_done_seconds)} after the restart",
                 *o.verdict.failures]  # fmt: skip
        lost = len(o.verdict.lost)
        rows.append(f"| `{o.fault}` | {lost} | {o.verdict.duplicates} | {_seconds(o.recover_seconds)} | "
                    f"{'; '.join(notes)} |")  # fmt: skip
    return "\n".join(rows)


def publish(text: str, command: str, markers: tuple[str, str] = (START, END)) -> None:
    """Print `text` (a table) and put it in the README between `markers`, under the command and the date."""
    body = f"`{command}`, {datetime.datetime.now(datetime.UTC):%Y-%m-%d}:\n\n{text}"
    print(body)
    replace_in_readme(*markers, body)
