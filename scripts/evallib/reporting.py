"""The report: a table per dataset and in total, the misses and problems, and the JSON."""

from __future__ import annotations

from typing import Any

from evallib.evaluation import TOP, Result


def report(results: list[Result], verbose: bool) -> None:
    print(
        f"{'dataset':<18}{'rows':>8}{'insights':>9}{'true':>6}{'false':>6}"
        f"{'not re-derivable':>17}{'keys in top 10':>16}{'time s':>8}{'cpu s':>7}{'peak MB':>9}"
    )
    for r in results:
        keys = f"{r.found}/{len(r.keys)}"
        print(
            f"{r.name:<18}{r.rows:>8,}{r.insights:>9}{r.true:>6}{r.false:>6}{r.underivable:>17}"
            f"{keys:>16}{r.seconds:>8.2f}{r.cpu_seconds:>7.2f}{r.peak_mb:>9.0f}"
        )
    found, total = sum(r.found for r in results), sum(len(r.keys) for r in results)
    share = f"{found}/{total} ({100 * found / total:.0f}%)" if total else "0/0"
    print(
        f"{'total':<18}{sum(r.rows for r in results):>8,}{sum(r.insights for r in results):>9}"
        f"{sum(r.true for r in results):>6}{sum(r.false for r in results):>6}"
        f"{sum(r.underivable for r in results):>17}{share:>16}"
        f"{sum(r.seconds for r in results):>8.2f}{sum(r.cpu_seconds for r in results):>7.2f}"
        f"{max(r.peak_mb for r in results):>9.0f}"
    )
    for r in results:
        missed = [(text, rank) for text, rank in r.keys if rank is None or rank > TOP]
        if verbose or missed:
            for text, rank in missed:
                where = "not stated" if rank is None else f"rank {rank}"
                print(f"  {r.name}: key finding missed ({where}): {text}")
        if verbose:
            for text, rank in r.keys:
                if rank is not None and rank <= TOP:
                    print(f"  {r.name}: key finding at rank {rank}: {text}")
            for problem in r.problems:
                print(f"  {r.name}: {problem}")


def as_json(results: list[Result]) -> dict[str, Any]:
    found, total = sum(r.found for r in results), sum(len(r.keys) for r in results)
    return {
        "datasets": [
            {
                "name": r.name,
                "rows": r.rows,
                "insights": r.insights,
                "claims_true": r.true,
                "claims_false": r.false,
                "not_rederivable": r.underivable,
                "key_findings": [{"finding": t, "rank": rank} for t, rank in r.keys],
                "key_findings_in_top": r.found,
                "seconds": round(r.seconds, 3),
                "cpu_seconds": round(r.cpu_seconds, 3),
                "peak_mb": round(r.peak_mb, 1),
                "problems": r.problems,
            }
            for r in results
        ],
        "total": {
            "insights": sum(r.insights for r in results),
            "claims_true": sum(r.true for r in results),
            "claims_false": sum(r.false for r in results),
            "not_rederivable": sum(r.underivable for r in results),
            "key_findings": total,
            "key_findings_in_top": found,
            "seconds": round(sum(r.seconds for r in results), 3),
            "cpu_seconds": round(sum(r.cpu_seconds for r in results), 3),
            "peak_mb": round(max((r.peak_mb for r in results), default=0.0), 1),
        },
    }
