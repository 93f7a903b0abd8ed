"""The analysis job on real public datasets (scripts/eval_insights.py --quick): nothing it
states is false, every figure can be re-derived, and it finds what an analyst would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "eval_insights.py"
FOUND_SHARE = 0.8  # the bar: at least 80% of the key findings in the top 10


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("eval") / "eval.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.timeout(360)
def test_no_claim_is_false_and_every_figure_is_rederived(evaluation: dict[str, Any]) -> None:
    problems = [f"{d['name']}: {p}" for d in evaluation["datasets"] for p in d["problems"]]
    assert evaluation["total"]["claims_false"] == 0, "\n".join(problems)
    assert evaluation["total"]["not_rederivable"] == 0, "\n".join(problems)
    assert evaluation["total"]["claims_true"] > 500  # the checks ran on something


@pytest.mark.timeout(360)
def test_key_findings_are_among_the_top_ten(evaluation: dict[str, Any]) -> None:
    total = evaluation["total"]
    missed = [
        f"{d['name']}: {k['finding']} (rank {k['rank']})"
        for d in evaluation["datasets"]
        for k in d["key_findings"]
        if k["rank"] is None or k["rank"] > 10
    ]
    assert total["key_findings_in_top"] >= FOUND_SHARE * total["key_findings"], "\n".join(missed)
