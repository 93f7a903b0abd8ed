"""The analysis job on real public datasets (scripts/eval_insights.py --quick): nothing it
states is false or misleading, every figure can be re-derived, it finds what an analyst would,
and what the question does not bear on stays out of the top 10 (issue 23's bars)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "eval_insights.py"
# Issue 23 asks for 90% of the key findings in the top 10 (the whole corpus: 93 of 103 after the
# third pass); the quick subset stands at 88% (50 of 57): this floor keeps what was won.
FOUND_SHARE = 0.85
TRIVIAL_SHARE = 0.2  # issue 23: at most 20% of the top 10 that the question does not bear on


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


def _problems(evaluation: dict[str, Any], kind: str) -> str:
    return "\n".join(
        f"{d['name']}: {p}" for d in evaluation["datasets"] for p in d["problems"] if kind in p
    )


@pytest.mark.timeout(360)
def test_no_claim_is_false_and_every_figure_is_rederived(evaluation: dict[str, Any]) -> None:
    assert evaluation["total"]["claims_false"] == 0, _problems(evaluation, " FALSE ")
    assert evaluation["total"]["not_rederivable"] == 0, _problems(evaluation, " NOT RE-DERIVABLE ")
    assert evaluation["total"]["claims_true"] > 500  # the checks ran on something


@pytest.mark.timeout(360)
def test_no_claim_is_misleading(evaluation: dict[str, Any]) -> None:
    assert evaluation["total"]["claims_misleading"] == 0, _problems(evaluation, " MISLEADING ")


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


@pytest.mark.timeout(360)
def test_little_noise_in_the_top_ten(evaluation: dict[str, Any]) -> None:
    total = evaluation["total"]
    noise = [
        f"{d['name']}: {line}"
        for d in evaluation["datasets"]
        for line in d["top10_insights"]
        if line.endswith("(trivial)")
    ]
    assert total["top10"] > 0
    assert total["trivial_in_top10"] <= TRIVIAL_SHARE * total["top10"], "\n".join(noise)
