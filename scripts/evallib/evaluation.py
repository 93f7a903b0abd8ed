"""One dataset evaluated: its file written, the job run, every insight checked, keys found."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from evallib.claims import verify
from evallib.keys import Dataset, Details, Key
from evallib.misleading import misleading
from evallib.noise import is_trivial
from evallib.running import run_job
from evallib.truth import Truth

TOP = 10  # a key finding counts as found when it is stated among the top 10 insights


@dataclass
class Result:
    name: str
    rows: int
    insights: int
    true: int
    false: int
    underivable: int
    keys: list[tuple[str, int | None]]
    seconds: float
    cpu_seconds: float
    peak_mb: float
    problems: list[str]
    misleading: int = 0
    top10: list[str] = field(default_factory=list)  # "#rank [type] title", "(trivial)" marked
    trivial_in_top10: int = 0

    @property
    def found(self) -> int:
        return sum(1 for _, rank in self.keys if rank is not None and rank <= TOP)


def find_keys(keys: list[Key], rows: list[Details]) -> list[tuple[str, int | None]]:
    """Each key finding with the rank of the first insight stating it (None: not stated)."""
    found = []
    for key in keys:
        rank = next(
            (
                int(r["content"]["details"].get("rank", 0))
                for r in rows[1:]
                if key.stated_by(r["insight_type"], r["content"]["details"])
            ),
            None,
        )
        found.append((key.text, rank))
    return found


def evaluate(
    dataset: Dataset,
    workdir: Path,
    runs: int = 1,
    engine: str | None = None,
    reuse: Path | None = None,
) -> Result:
    """The checks of one dataset; `reuse`: a directory keeping each job's output, read back on
    the next run instead of running the job (for work on the checks, never for measuring)."""
    kept = reuse / f"{dataset.name}.json" if reuse else None
    if kept is not None and kept.exists():
        timed = [json.loads(kept.read_text())]
    else:
        path = workdir / dataset.file
        dataset.write(path)
        # The machine is shared: the fastest of several runs is the least disturbed one.
        timed = [run_job(path, dataset.description, engine) for _ in range(runs)]
        if kept is not None:
            kept.write_text(json.dumps(timed[0]))
    run = min(timed, key=lambda t: t["seconds"])
    run["peak_mb"] = max(t["peak_mb"] for t in timed)
    run["cpu_seconds"] = min(t["cpu_seconds"] for t in timed)
    frame = dataset.truth()
    truth = Truth(frame)
    rows: list[Details] = run["rows"]
    result = Result(
        dataset.name,
        len(frame),
        len(rows),
        0,
        0,
        0,
        find_keys(dataset.keys(frame), rows),
        run["seconds"],
        run["cpu_seconds"],
        run["peak_mb"],
        [],
    )
    for row in rows:
        _check(row, truth, dataset, result)
    return result


def _check(row: Details, truth: Truth, dataset: Dataset, result: Result) -> None:
    """One insight's verdicts, misleading flags and noise added to the dataset's result."""
    verdict = verify(row, truth)
    try:
        flags = misleading(row, truth, dataset)
    except Exception as exc:  # a bug of the checks: shown, and the run goes on
        flags = [f"the checks failed: {type(exc).__name__}: {exc}"]
    result.true += verdict.true
    result.false += len(verdict.false)
    result.underivable += len(verdict.underivable)
    result.misleading += len(flags)
    rank = int(row["content"]["details"].get("rank", 0))
    title = row["content"]["title"]
    result.problems += [f"#{rank} {title}: FALSE {why}" for why in verdict.false]
    result.problems += [f"#{rank} {title}: NOT RE-DERIVABLE {why}" for why in verdict.underivable]
    result.problems += [f"#{rank} {title}: MISLEADING {why}" for why in flags]
    if row["insight_type"] != "summary" and 1 <= rank <= TOP:
        trivial = is_trivial(row, dataset)
        result.trivial_in_top10 += trivial
        mark = " (trivial)" if trivial else ""
        result.top10.append(f"#{rank} [{row['insight_type']}] {title}{mark}")
