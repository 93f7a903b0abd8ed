"""The child side without fork: the result protocol and what a handler may return."""

from __future__ import annotations

import os

import pytest

from runner import bootstrap, handlers, protocol
from runner.errors import PermanentFailure
from runner.protocol import Exit, FailureKind


def test_frames_round_trip_and_partial_frames_are_none() -> None:
    data = protocol.encode(
        protocol.success([{"insight_type": "t", "content": {"a": 1}, "confidence_score": 0.5}])
    )
    assert protocol.decode(data) == {
        "ok": True,
        "insights": [{"insight_type": "t", "content": {"a": 1}, "confidence_score": 0.5}],
    }
    assert protocol.decode(data[:-1]) is None
    assert protocol.decode(b"") is None
    assert protocol.decode(data + b"trailing garbage from a grandchild") is not None


def test_insights_are_checked() -> None:
    assert handlers.insights_of(None) == []
    assert handlers.insights_of([{"content": {"x": 1}, "confidence_score": 0.123}]) == [
        {"insight_type": None, "content": {"x": 1}, "confidence_score": 0.12}
    ]
    for bad, message in [
        ("text", "expected a list of insights"),
        ([1], "expected a dict"),
        ([{"content": {}, "confidence_score": 1.5}], "between 0 and 1"),
        ([{"confidence_score": 0.5}], "content is required"),
        ([{"content": {}, "extra": 1}], "unknown keys"),
    ]:
        with pytest.raises(PermanentFailure, match=message):
            handlers.insights_of(bad)


def test_load_names_the_missing_handler() -> None:
    assert handlers.load("runner.diag:noop").__name__ == "noop"
    with pytest.raises(
        PermanentFailure, match=r"cannot load handler nope\.nope:x: ModuleNotFoundError"
    ):
        handlers.load("nope.nope:x")
    with pytest.raises(PermanentFailure, match=r"runner\.diag has no missing"):
        handlers.load("runner.diag:missing")


def test_send_refuses_results_over_the_cap_and_unserialisable_ones() -> None:
    read, write = os.pipe()
    try:
        assert (
            bootstrap.send(protocol.success([{"content": "x" * 1000}]), write, 100) is Exit.FAILED
        )
        doc = protocol.decode(os.read(read, 65536))
        assert doc is not None and doc["kind"] == FailureKind.PERMANENT
        assert doc["message"].startswith("result too large: ")
        assert bootstrap.send(protocol.success([{"content": {1, 2}}]), write, 10_000) is Exit.FAILED
        doc = protocol.decode(os.read(read, 65536))
        assert doc is not None and "not JSON-serialisable" in doc["message"]
    finally:
        os.close(read)
        os.close(write)
