"""What the analysis tells its job while it runs: how far it is (`job.progress`: loading
each file, each analysis family of each table, the summary), and the durable step its
paid-for part is (`job.step`: the language model's summary). The workflow names each stage
as it begins (`begin`) and what to keep (`kept`); the handler says where they go
(`reporting`). Outside a handler nothing is reported and nothing kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# The stages `analyse` names for each table (workflow.py), after the file's loading.
FAMILIES = 7

Report = Callable[[float, float | None, str], None]
Step = Callable[[str, Callable[[], Any]], Any]
_report: Report | None = None
_step: Step | None = None
_done = 0
_total = 0


@contextmanager
def reporting(report: Report | None, step: Step | None, files: int) -> Iterator[None]:
    """Report the stages begun inside to `report(done, total, note)`, the last when all is
    done; keep what `kept` names through `step(name, fn)`."""
    global _report, _step, _done, _total
    _report, _step, _done, _total = report, step, 0, files * (1 + FAMILIES) + 1
    try:
        yield
        if _report is not None:
            _report(_total, _total, "done")
    finally:
        _report = _step = None


def begin(note: str) -> None:
    """The next stage begins: report the ones done before it."""
    global _done
    if _report is not None:
        _report(min(_done, _total), _total, note)
    _done += 1


def kept(name: str | None, fn: Callable[[], Any]) -> Any:
    """`fn()`'s result, as durable step `name` when a handler keeps steps (None: not kept)."""
    return _step(name, fn) if name is not None and _step is not None else fn()
