#!/usr/bin/env python3
"""Benchmark the `analysis` job: throughput and peak memory on synthetic sales CSVs.

    python scripts/bench_insights.py                       # 10 MB, 100 MB, 1 GB at 512 MB
    python scripts/bench_insights.py --sizes 10,100 --compare-engines

Each size is generated once (with DuckDB, in seconds) and analysed in a fresh child process
with the runner's memory limit passed to the workflow; the child reports its own peak RSS
(getrusage ru_maxrss: exact, not sampled). It is a single process (DuckDB uses threads),
so that peak is the whole runner tree's. --compare-engines runs the core pass the workflow
depends on (daily totals per region plus column statistics) in DuckDB, Polars (if
installed) and the standard library's csv module, to record why DuckDB was chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BYTES_PER_ROW = 68.6  # of the generated CSV, measured
DESCRIPTION = "Grow revenue per region and keep our key customers"

GENERATE = """
COPY (
  SELECT i AS order_id,
    DATE '2023-01-01' + CAST(i * 730 // {rows} AS INTEGER) AS order_date,
    'C' || lpad(CAST(hash(i) % 50000 AS VARCHAR), 6, '0') AS customer_id,
    ['North', 'South', 'East', 'West', 'Central'][CAST(1 + hash(i * 7) % 5 AS INTEGER)] AS region,
    ['Electronics', 'Furniture', 'Office', 'Grocery', 'Toys', 'Sports']
        [CAST(1 + hash(i * 13) % 6 AS INTEGER)] AS category,
    ['online', 'store', 'partner'][CAST(1 + hash(i * 17) % 3 AS INTEGER)] AS channel,
    CAST(1 + hash(i * 19) % 9 AS INTEGER) AS quantity,
    round(5 + CAST(hash(i * 23) % 20000 AS INTEGER) / 100.0, 2) AS unit_price,
    round(CAST(hash(i * 29) % 30 AS INTEGER) / 100.0, 2) AS discount,
    round(quantity * unit_price * (1 - discount), 2) AS revenue
  FROM range({rows}) t(i)
) TO '{path}' (HEADER)
"""


def generate(path: Path, megabytes: int) -> None:
    """A sales CSV of about `megabytes` MB (deterministic: DuckDB's hash, no randomness)."""
    import duckdb

    rows = int(megabytes * 1_000_000 / BYTES_PER_ROW)
    con = duckdb.connect()
    con.execute(GENERATE.format(rows=rows, path=str(path).replace("'", "''"))).fetchall()
    con.close()


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_workflow(path: str, limit_mb: int | None) -> dict[str, Any]:
    from runner.insights import run_complete_workflow

    rows = run_complete_workflow([path], DESCRIPTION, {}, memory_limit_mb=limit_mb)
    return {"insights": len(rows)}


def run_duckdb_core(path: str, limit_mb: int | None) -> dict[str, Any]:
    import duckdb

    config: dict[str, Any] = {"preserve_insertion_order": False}
    if limit_mb:
        config["memory_limit"] = f"{limit_mb // 2}MB"
    con = duckdb.connect(config=config)
    source = f"read_csv('{path}')"
    groups = con.execute(
        f"SELECT order_date, region, count(*), sum(revenue), sum(quantity) FROM {source} "
        "GROUP BY ALL"
    ).fetchall()
    con.execute(
        f"SELECT count(*), min(revenue), max(revenue), avg(revenue), "
        f"approx_count_distinct(customer_id) FROM {source}"
    ).fetchall()
    return {"groups": len(groups)}


def run_polars_core(path: str, limit_mb: int | None) -> dict[str, Any]:
    import polars as pl

    frame = pl.scan_csv(path, try_parse_dates=True)
    groups = (
        frame.group_by("order_date", "region")
        .agg(pl.len(), pl.col("revenue").sum(), pl.col("quantity").sum())
        .collect(engine="streaming")
    )
    frame.select(
        pl.len(),
        pl.col("revenue").min().alias("low"),
        pl.col("revenue").max().alias("high"),
        pl.col("revenue").mean().alias("mean"),
        pl.col("customer_id").approx_n_unique(),
    ).collect(engine="streaming")
    return {"groups": groups.height}


def run_stdlib_core(path: str, limit_mb: int | None) -> dict[str, Any]:
    import csv

    groups: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    low, high, total, count = float("inf"), float("-inf"), 0.0, 0
    with open(path, newline="") as stream:
        for row in csv.DictReader(stream):
            revenue = float(row["revenue"])
            entry = groups[(row["order_date"], row["region"])]
            entry[0] += 1
            entry[1] += revenue
            entry[2] += int(row["quantity"])
            low, high = min(low, revenue), max(high, revenue)
            total, count = total + revenue, count + 1
    return {"groups": len(groups)}


KINDS = {
    "workflow": run_workflow,
    "duckdb": run_duckdb_core,
    "polars": run_polars_core,
    "stdlib": run_stdlib_core,
}


def child(kind: str, path: str, limit_mb: int | None) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    started = time.monotonic()
    try:
        result = KINDS[kind](path, limit_mb)
    except ImportError as exc:
        print(json.dumps({"error": f"not installed ({exc.name})"}))
        return
    seconds = time.monotonic() - started
    print(json.dumps({**result, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def measure(kind: str, path: Path, limit_mb: int | None) -> dict[str, Any]:
    """Run a child process for one measurement; its JSON report."""
    command = [sys.executable, __file__, "--child", kind, str(path), str(limit_mb or 0)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {done.returncode}: {tail[0]}"}
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def report_line(label: str, kind: str, size_mb: float, result: dict[str, Any], limit: int) -> str:
    if "error" in result:
        return f"{label:>8}  {kind:<9} {result['error']}"
    rss = result["peak_rss_mb"]
    verdict = "ok" if not limit or rss < limit else "OVER LIMIT"
    return (
        f"{label:>8}  {kind:<9} {result['seconds']:8.1f} s {size_mb / result['seconds']:8.1f} MB/s"
        f" {rss:8.0f} MB peak RSS   {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10,100,1000", help="file sizes in MB (default 10,100,1000)"
    )
    parser.add_argument("--memory-limit-mb", type=int, default=512, help="runner limit (0: none)")
    parser.add_argument("--dir", type=Path, help="keep generated files here (default: temp)")
    parser.add_argument("--compare-engines", action="store_true", help="also time the core pass")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, limit = args.child
        child(kind, path, int(limit) or None)
        return 0
    kinds = ["workflow", *(["duckdb", "polars", "stdlib"] if args.compare_engines else [])]
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"memory limit {args.memory_limit_mb} MB; {len(kinds)} measurement(s) per size")
        for megabytes in (int(s) for s in args.sizes.split(",")):
            path = folder / f"sales_{megabytes}mb.csv"
            if not path.exists():
                generate(path, megabytes)
                os.sync()  # so the measurement does not compete with writing the file back
            size_mb = path.stat().st_size / 1_000_000
            label = f"{size_mb:.0f} MB"
            for kind in kinds:
                result = measure(kind, path, args.memory_limit_mb)
                print(report_line(label, kind, size_mb, result, args.memory_limit_mb), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
