"""Finding a handler from its "module:function" path, and checking what it returns."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from runner.errors import PermanentFailure
from runner.job import Job
from runner.protocol import Insight

Handler = Callable[[Job], Any]


def load(path: str) -> Handler:
    """The callable named by `path`; PermanentFailure naming the path when there is none."""
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise PermanentFailure(f"cannot load handler {path}: {type(e).__name__}: {e}") from e
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise PermanentFailure(f"cannot load handler {path}: {module_name} has no {function_name}")
    return handler  # type: ignore[no-any-return]


def insights_of(value: Any) -> list[Insight]:
    """The insights a handler returned, checked and normalised for the `insights` table.

    None means no insights; otherwise a list of dicts with `insight_type`, `content` and an
    optional `confidence_score` in [0, 1].
    """
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise PermanentFailure(
            f"handler returned {type(value).__name__}, expected a list of insights or None"
        )
    return [_insight(i, item) for i, item in enumerate(value)]


def _insight(index: int, item: Any) -> Insight:
    where = f"insight {index}"
    if not isinstance(item, dict):
        raise PermanentFailure(f"{where}: expected a dict, got {type(item).__name__}")
    unknown = set(item) - {"insight_type", "content", "confidence_score"}
    if unknown:
        raise PermanentFailure(f"{where}: unknown keys {sorted(unknown)}")
    if item.get("content") is None:
        raise PermanentFailure(f"{where}: content is required")
    insight_type = item.get("insight_type")
    if insight_type is not None and not isinstance(insight_type, str):
        raise PermanentFailure(f"{where}: insight_type must be a string")
    score = item.get("confidence_score")
    if score is not None:
        if not isinstance(score, int | float) or not 0 <= score <= 1 or math.isnan(score):
            raise PermanentFailure(f"{where}: confidence_score must be between 0 and 1")
        score = round(float(score), 2)
    return {"insight_type": insight_type, "content": item["content"], "confidence_score": score}
