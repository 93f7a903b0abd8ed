"""Noise: the insights a dataset's question does not bear on ("trivial" in the report).

The rule, on an insight's details against the dataset's declared target measures
(Dataset.targets; "rows" when the question asks how many):

- the summary is not ranked and not counted; a profile is always trivial;
- data quality is trivial unless the question asks about the data's completeness or quality
  (Dataset.asks_quality) or one of the columns it names is a target;
- a correlation is trivial unless one of its two columns is a target (two side columns that
  move together are "linked columns correlated");
- any other insight (KPI, trend, season, anomaly, fall, segment comparison, concentration,
  a driver) is trivial unless one of the measures it is about is a target: a count of rows
  per category is about the measure "rows", a KPI of a side column about that column.
  An insight that names no measure at all is not judged trivial.
"""

from __future__ import annotations

from evallib.keys import Dataset, Details, columns_of, measures_of


def is_trivial(row: Details, dataset: Dataset) -> bool:
    """Whether the question does not bear on this insight (the rule above)."""
    kind = row["insight_type"]
    details = row["content"]["details"]
    targets = dataset.targets
    if kind == "profile":
        return True
    if kind == "data_quality":
        return not dataset.asks_quality and not columns_of(details) & targets
    if kind == "correlation":
        return not set(details.get("columns") or []) & targets
    about = measures_of(details)
    if details.get("basis") == "rows":
        about = (about - {details.get("segment_column")}) | {"rows"}
    return bool(about) and not about & targets
