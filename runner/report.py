"""`analysis.report`: one combined report over a batch of analysed files.

The then-job of a batch (`enqueue_batch(…, then={"job_type": "analysis.report"})`) gets the
batch's `analysis` jobs as `Job.parents`, each with the insights it wrote. It reads only
those insights (no file is opened again) and writes insights of its own:

- `summary`: how many files were analysed, how many rows, which file leads (the most
  findings; more rows break a tie) and which could not be analysed;
- `shared_measures`: the measures that more than one file reports on (revenue, orders…),
  each with the files and what each found about it (its trend, if one was found);
- `shared_segments`: the columns more than one file breaks its figures down by (channel,
  region…), each with the leading segment in each file;
- `file_comparison`: every file side by side: rows, period, findings, its top finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.errors import PermanentFailure
from runner.job import Job, Parent

# Insights that describe the file rather than find something in it.
NOT_FINDINGS = ("summary", "profile", "data_quality")


@dataclass
class FileFacts:
    """What one analysed file's insights say, as the report compares them."""

    name: str
    job_id: str
    rows: int | None = None
    period: str | None = None
    findings: list[Mapping[str, Any]] = field(default_factory=list)
    measures: dict[str, list[str]] = field(default_factory=dict)  # measure → finding titles
    segments: dict[str, str | None] = field(default_factory=dict)  # column → leading segment

    @property
    def top(self) -> str | None:
        return str(self.findings[0].get("title")) if self.findings else None


def report(job: Job) -> list[dict[str, Any]]:
    """The combined insights of the job's parents (a batch's `analysis` jobs)."""
    analysed = [p for p in job.parents if p.status == "completed" and p.insights]
    if not analysed:
        raise PermanentFailure(
            f"analysis.report: none of its {len(job.parents)} parent jobs completed with "
            "insights: enqueue it as a batch's then-job (enqueue_batch(…, then=…))"
        )
    files = [_facts(p) for p in analysed]
    missing = [p for p in job.parents if p not in analysed]
    return [
        _summary(files, missing),
        _shared_measures(files),
        _shared_segments(files),
        _comparison(files),
    ]


def _facts(parent: Parent) -> FileFacts:
    facts = FileFacts(name=parent.file_name or parent.id[:8], job_id=parent.id)
    for insight in parent.insights:
        kind, content = insight.get("insight_type"), insight.get("content")
        if not isinstance(content, Mapping):
            continue
        given = content.get("details")
        details: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        if kind == "profile":
            facts.rows = details.get("rows") if isinstance(details.get("rows"), int) else None
            facts.period = _period(details.get("period"))
        if kind in NOT_FINDINGS:
            continue
        facts.findings.append(content)
        measure = details.get("measure")
        if isinstance(measure, str) and measure != "rows":
            facts.measures.setdefault(measure, []).append(str(content.get("title")))
        column = details.get("segment_column")
        if isinstance(column, str) and kind == "segment_comparison":
            facts.segments.setdefault(column, _text(details.get("best")))
    return facts


def _period(period: Any) -> str | None:
    if isinstance(period, Mapping) and period.get("start") and period.get("end"):
        return f"{period['start']} to {period['end']}"
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _leader(files: Sequence[FileFacts]) -> FileFacts:
    return max(files, key=lambda f: (len(f.findings), f.rows or 0))


def _summary(files: list[FileFacts], missing: list[Parent]) -> dict[str, Any]:
    rows = sum(f.rows or 0 for f in files)
    lead = _leader(files)
    text = (f"Combined {len(files)} analysed file{'s' if len(files) != 1 else ''} "
            f"({rows:,} rows). {lead.name} leads with {len(lead.findings)} findings"
            + (f"; its first: {lead.top}." if lead.top else "."))  # fmt: skip
    if missing:
        names = ", ".join(f"{p.file_name or p.id[:8]} ({p.status}"
                          + (f": {p.error}" if p.error else "") + ")" for p in missing)  # fmt: skip
        text += f" Not analysed: {names}."
    details = {
        "files": [f.name for f in files], "rows": rows, "leader": lead.name,
        "leader_job": lead.job_id, "not_analysed": [p.id for p in missing],
    }  # fmt: skip
    return _insight("summary", f"Combined report of {len(files)} files", text, details, 1.0)


def _shared(files: Sequence[FileFacts], of: str) -> dict[str, list[FileFacts]]:
    """Each key of each file's `of` (measures or segments), lower-cased, with the files that
    have it, for those more than one file has."""
    found: dict[str, list[FileFacts]] = {}
    for f in files:
        for key in getattr(f, of):
            found.setdefault(key.lower(), []).append(f)
    return {k: v for k, v in sorted(found.items()) if len(v) > 1}


def _shared_measures(files: list[FileFacts]) -> dict[str, Any]:
    shared = _shared(files, "measures")
    if not shared:
        text = "No measure is reported by more than one file: each file measures its own."
        return _insight("shared_measures", "No measure in common", text, {"measures": []}, 1.0)
    entries = [{"measure": m, "files": {f.name: _finding(f.measures, m) for f in fs}}
               for m, fs in shared.items()]  # fmt: skip
    text = "; ".join(f"{e['measure']} in {', '.join(e['files'])}" for e in entries)
    title = f"Measures in common: {', '.join(shared)}"
    return _insight("shared_measures", title, text + ".", {"measures": entries}, 1.0)


def _finding(measures: Mapping[str, list[str]], lowered: str) -> str:
    titles = next(v for k, v in measures.items() if k.lower() == lowered)
    return titles[0]


def _shared_segments(files: list[FileFacts]) -> dict[str, Any]:
    shared = _shared(files, "segments")
    if not shared:
        text = "No column breaks down more than one file: the files share no segment."
        return _insight("shared_segments", "No segment in common", text, {"segments": []}, 1.0)
    leaders = {c: {f.name: _leading(f.segments, c) for f in fs} for c, fs in shared.items()}
    entries = [{"column": c, "leaders": by_file} for c, by_file in leaders.items()]
    text = "; ".join(
        f"{c}: " + ", ".join(f"{v} leads in {k}" for k, v in by_file.items())
        for c, by_file in leaders.items()
    )
    title = f"Segments in common: {', '.join(shared)}"
    return _insight("shared_segments", title, text + ".", {"segments": entries}, 1.0)


def _leading(segments: Mapping[str, str | None], lowered: str) -> str | None:
    return next(v for k, v in segments.items() if k.lower() == lowered)


def _comparison(files: list[FileFacts]) -> dict[str, Any]:
    ranked = sorted(files, key=lambda f: (-len(f.findings), -(f.rows or 0), f.name))
    table = [{"file": f.name, "job": f.job_id, "rows": f.rows, "period": f.period,
              "findings": len(f.findings), "top_finding": f.top} for f in ranked]  # fmt: skip
    text = "; ".join(f"{f.name}: {f.rows or 0:,} rows, {len(f.findings)} findings" for f in ranked)
    title = f"Files by findings: {', '.join(f.name for f in ranked)}"
    return _insight("file_comparison", title, text + ".", {"files": table}, 1.0)


def _insight(kind: str, title: str, summary: str, details: dict[str, Any],
             confidence: float) -> dict[str, Any]:  # fmt: skip
    content = {"title": title, "summary": summary, "details": details}
    return {"insight_type": kind, "content": content, "confidence_score": confidence}
