"""One dataset evaluated: its file written, the job run, every insight checked, keys found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evallib.claims import verify
from evallib.keys import Dataset, Details, Key
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


def evaluate(dataset: Dataset, workdir: Path, runs: int = 1, engine: str | None = None) -> Result:
    path = workdir / dataset.file
    dataset.write(path)
    # The machine is shared: the fastest of several runs is the least disturbed one.
    timed = [run_job(path, dataset.description, engine) for _ in range(runs)]
    run = min(timed, key=lambda t: t["seconds"])
    run["peak_mb"] = max(t["peak_mb"] for t in timed)
    run["cpu_seconds"] = min(t["cpu_seconds"] for t in timed)
    frame = dataset.truth()
    truth = Truth(frame)
    rows: list[Details] = run["rows"]
    true = false = underivable = 0
    problems = []
    for row in rows:
        verdict = verify(row, truth)
        true += verdict.true
        false += len(verdict.false)
        underivable += len(verdict.underivable)
        rank = row["content"]["details"].get("rank", 0)
        title = row["content"]["title"]
        problems += [f"#{rank} {title}: FALSE {why}" for why in verdict.false]
        problems += [f"#{rank} {title}: NOT RE-DERIVABLE {why}" for why in verdict.underivable]
    return Result(
        dataset.name,
        len(frame),
        len(rows),
        true,
        false,
        underivable,
        find_keys(dataset.keys(frame), rows),
        run["seconds"],
        run["cpu_seconds"],
        run["peak_mb"],
        problems,
    )
