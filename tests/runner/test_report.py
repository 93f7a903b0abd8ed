"""`analysis.report`, a batch's then-job: the insights of its analysed files combined (which
measures and segments they share, which file leads), on made-up parents and on the three
sample files run by a real supervisor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.errors import PermanentFailure
from runner.job import Job, Parent
from runner.report import report
from supervisor.api import enqueue_batch, wait
from supervisor.db.connect import Connection, transaction
from tests.fixtures.processes import Supervisors, write_config

SAMPLES = Path(__file__).resolve().parents[2] / "conf" / "samples"


def _insight(kind: str, title: str, **details: Any) -> dict[str, Any]:
    return {"insight_type": kind, "content": {"title": title, "summary": "", "details": details},
            "confidence_score": 0.9}  # fmt: skip


def _parent(n: int, name: str, rows: int, *insights: dict[str, Any]) -> Parent:
    profile = _insight(
        "profile", name, rows=rows, period={"start": "2024-01-01", "end": "2024-12-31"}
    )
    return Parent(id=f"{n:08d}-0000-4000-8000-000000000000", type="analysis", status="completed",
                  file_name=name, insights=(profile, *insights))  # fmt: skip


@pytest.mark.unit
def test_the_report_names_shared_measures_and_segments_and_the_leading_file() -> None:
    shop = _parent(1, "shop.csv", 900,
                   _insight("trend", "Revenue grew 12%", measure="revenue"),
                   _insight("segment_comparison", "Region: most revenue for North",
                            measure="revenue", segment_column="Region", best="North"))  # fmt: skip
    web = _parent(2, "web.csv", 5000,
                  _insight("trend", "Revenue fell 3%", measure="Revenue"),
                  _insight("segment_comparison", "Region: most orders for South",
                           measure="rows", segment_column="region", best="South"),
                  _insight("anomaly", "Spike in visits", measure="visits"))  # fmt: skip
    broken = Parent(id="00000003-0000-4000-8000-000000000000", type="analysis", status="failed",
                    error="ValueError: empty file", file_name="broken.csv")  # fmt: skip
    found = {i["insight_type"]: i["content"] for i in
             report(Job(id="r", type="analysis.report", parents=(shop, web, broken)))}  # fmt: skip
    assert list(found) == ["summary", "shared_measures", "shared_segments", "file_comparison"]
    assert found["summary"]["summary"] == (
        "Combined 2 analysed files (5,900 rows). web.csv leads with 3 findings; its first: "
        "Revenue fell 3%. Not analysed: broken.csv (failed: ValueError: empty file).")  # fmt: skip
    assert found["shared_measures"]["details"]["measures"] == [
        {"measure": "revenue", "files": {"shop.csv": "Revenue grew 12%", "web.csv": "Revenue fell 3%"}}]  # fmt: skip
    assert (
        found["shared_segments"]["summary"]
        == "region: North leads in shop.csv, South leads in web.csv."
    )
    assert [f["file"] for f in found["file_comparison"]["details"]["files"]] == [
        "web.csv",
        "shop.csv",
    ]


@pytest.mark.unit
def test_a_report_with_nothing_analysed_fails_at_once_saying_why() -> None:
    failed = Parent(id="x", type="analysis", status="failed", error="boom")
    with pytest.raises(PermanentFailure, match="none of its 1 parent jobs completed with insights"):
        report(Job(id="r", type="analysis.report", parents=(failed,)))


@pytest.mark.slow
def test_the_sample_files_batch_ends_in_one_combined_report(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    """What scripts/quickstart.sh does: its three samples as a batch, then analysis.report."""
    sup = supervisors.start(db_url, write_config(tmp_path, concurrency=2))
    sup.wait_registered(conn)
    files = ["sales.csv", "customers.csv", "support_tickets.jsonl"]
    with transaction(conn):
        batch = enqueue_batch(conn, [{"file_path": str(SAMPLES / f), "original_name": f}
                                     for f in files], then={"job_type": "analysis.report"})  # fmt: skip
    result = wait(conn, batch.id, timeout=300)
    assert result.ok, sup.log()
    found = {i["insight_type"]: i["content"] for i in result.insights}
    assert found["summary"]["details"]["files"] == files
    assert found["summary"]["details"]["rows"] == 4273 + 1200 + 2000
    assert found["shared_segments"]["title"] == "Segments in common: category, channel"
