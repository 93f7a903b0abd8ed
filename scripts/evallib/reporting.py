"""The report: a table per dataset and in total, the misses and problems, and the JSON."""

from __future__ import annotations

from typing import Any

from evallib.evaluation import TOP, Result

COLUMNS = (
    f"{'dataset':<18}{'rows':>8}{'insights':>9}{'true':>6}{'false':>6}{'misleading':>11}"
    f"{'not re-derivable':>17}{'keys in top 10':>16}{'trivial':>9}{'time s':>8}{'cpu s':>7}"
    f"{'peak MB':>9}"
)


def report(results: list[Result], verbose: bool) -> None:
    print(COLUMNS)
    for r in results:
        keys = f"{r.found}/{len(r.keys)}"
        trivial = f"{r.trivial_in_top10}/{len(r.top10)}"
        print(
            f"{r.name:<18}{r.rows:>8,}{r.insights:>9}{r.true:>6}{r.false:>6}{r.misleading:>11}"
            f"{r.underivable:>17}{keys:>16}{trivial:>9}{r.seconds:>8.2f}{r.cpu_seconds:>7.2f}"
            f"{r.peak_mb:>9.0f}"
        )
    total = totals(results)
    share = f"{total['key_findings_in_top']}/{total['key_findings']} ({total['found_share']:.0%})"
    trivial = f"{total['trivial_in_top10']}/{total['top10']}"
    print(
        f"{'total':<18}{sum(r.rows for r in results):>8,}{total['insights']:>9}"
        f"{total['claims_true']:>6}{total['claims_false']:>6}{total['claims_misleading']:>11}"
        f"{total['not_rederivable']:>17}{share:>16}{trivial:>9}{total['seconds']:>8.2f}"
        f"{total['cpu_seconds']:>7.2f}{total['peak_mb']:>9.0f}"
    )
    print(f"trivial share of the top 10: {total['trivial_share']:.0%}")
    for r in results:
        _details(r, verbose)


def _details(r: Result, verbose: bool) -> None:
    for text, rank in r.keys:
        if rank is None or rank > TOP:
            where = "not stated" if rank is None else f"rank {rank}"
            print(f"  {r.name}: key finding missed ({where}): {text}")
        elif verbose:
            print(f"  {r.name}: key finding at rank {rank}: {text}")
    for problem in r.problems:
        if verbose or " MISLEADING " in problem:
            print(f"  {r.name}: {problem}")
    if verbose:
        for line in r.top10:
            print(f"  {r.name}: top 10: {line}")


def totals(results: list[Result]) -> dict[str, Any]:
    found, keys = sum(r.found for r in results), sum(len(r.keys) for r in results)
    top10, trivial = sum(len(r.top10) for r in results), sum(r.trivial_in_top10 for r in results)
    return {
        "insights": sum(r.insights for r in results),
        "claims_true": sum(r.true for r in results),
        "claims_false": sum(r.false for r in results),
        "claims_misleading": sum(r.misleading for r in results),
        "not_rederivable": sum(r.underivable for r in results),
        "key_findings": keys,
        "key_findings_in_top": found,
        "found_share": found / keys if keys else 0.0,
        "top10": top10,
        "trivial_in_top10": trivial,
        "trivial_share": trivial / top10 if top10 else 0.0,
        "seconds": round(sum(r.seconds for r in results), 3),
        "cpu_seconds": round(sum(r.cpu_seconds for r in results), 3),
        "peak_mb": round(max((r.peak_mb for r in results), default=0.0), 1),
    }


def as_json(results: list[Result]) -> dict[str, Any]:
    return {
        "datasets": [
            {
                "name": r.name,
                "rows": r.rows,
                "insights": r.insights,
                "claims_true": r.true,
                "claims_false": r.false,
                "claims_misleading": r.misleading,
                "not_rederivable": r.underivable,
                "key_findings": [{"finding": t, "rank": rank} for t, rank in r.keys],
                "key_findings_in_top": r.found,
                "top10": len(r.top10),
                "trivial_in_top10": r.trivial_in_top10,
                "top10_insights": r.top10,
                "seconds": round(r.seconds, 3),
                "cpu_seconds": round(r.cpu_seconds, 3),
                "peak_mb": round(r.peak_mb, 1),
                "problems": r.problems,
            }
            for r in results
        ],
        "total": totals(results),
    }
