"""Benchmark results: one row per figure, a printed table and `bench/results.json`."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_FILE = Path(__file__).with_name("results.json")
README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


@dataclass(frozen=True)
class Result:
    """A measured figure beside its baseline; for times, a lower ratio is better."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `samples`, interpolated."""
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(samples)


def write(results: list[Result]) -> None:
    """Print the table and write the JSON file the README's table is made from."""
    width = max(len(r.name) for r in results)
    print(f"{'benchmark':<{width}}  {'value':>10}  {'unit':<6} {'baseline':<40} {'baseline':>10}  {'ratio':>7}")
    for r in results:
        print(
            f"{r.name:<{width}}  {r.value:>10.4g}  {r.unit:<6} {r.baseline:<40} {r.baseline_value:>10.4g}  "
            f"{r.ratio:>7.3f}"
        )
    rows = [{**asdict(r), "ratio": round(r.ratio, 4)} for r in results]
    RESULTS_FILE.write_text(json.dumps(rows, indent=2) + "\n")


def merged(results: list[Result]) -> list[Result]:
    """The rows of bench/results.json with `results` in place of the rows of the same name (new ones last)."""
    earlier = [Result(**{k: v for k, v in row.items() if k != "ratio"}) for row in json.loads(RESULTS_FILE.read_text())]
    fresh = {r.name: r for r in results}
    kept = [fresh.pop(r.name, r) for r in earlier]
    return kept + list(fresh.values())


def readme_table(results: list[Result]) -> str:
    """The README's results table (markdown), from the results of one run."""
    rows = ["| benchmark | value | baseline | ratio |", "|---|---|---|---|"]
    rows += [
        f"| `{r.name}` | {r.value:.4g} {r.unit} | {r.baseline}: {r.baseline_value:.4g} {r.unit} | {r.ratio:.3f} |"
        for r in results
    ]
    return "\n".join(rows)


def update_readme(results: list[Result]) -> None:
    """Replace the table between the README's bench markers (so it always matches results.json)."""
    replace_in_readme(START, END, readme_table(results))


def replace_in_readme(start: str, end: str, body: str) -> None:
    """Replace what stands between two marker comments of the README with `body`."""
    text = README.read_text()
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    README.write_text(f"{head}{start}\n{body}\n{end}{tail}")
