"""What a runner hands back: one result document on its pipe, and an exit code.

The document is JSON behind an 8-byte length, so the supervisor knows it has all of it even
when a grandchild still holds the pipe open. It is one of

    {"ok": true,  "insights": [{"insight_type": ..., "content": ..., "confidence_score": ...}]}
    {"ok": false, "kind": FailureKind, "message": "ValueError: bad row 7", "traceback": "...",
     "exception": ["ValueError", "Exception", "BaseException"]}   # the class and its bases
    {"ok": false, "kind": "retry", "message": "...", "delay": 30.0}  # runner.Retry(delay=30)

Before it, while the handler runs, the same channel (a socket pair) carries messages, framed
the same way: `{"progress": {"done": 12, "total": 80, "note": "page 12"}}` (`job.progress`),
and `{"step": {"name": "summary", "result": ...}}` (`job.step`), which the supervisor answers
on the channel, once the result is stored or cannot be, with `{"step": "summary", "stored":
true}` or `{"step": "summary", "stored": false, "error": "..."}`.
"""

from __future__ import annotations

import enum
import json
import struct
from typing import Any, Literal, NotRequired, TypedDict, cast

HEADER = struct.Struct(">Q")


class Insight(TypedDict):
    """One row for the `insights` table."""

    insight_type: str | None
    content: Any  # any JSON value but null
    confidence_score: float | None  # in [0, 1]


class Success(TypedDict):
    ok: Literal[True]
    insights: list[Insight]


class Failure(TypedDict):
    ok: Literal[False]
    kind: str  # a FailureKind
    message: str
    traceback: NotRequired[str]
    exception: NotRequired[list[str]]  # kind exception: the class name, then its bases'
    delay: NotRequired[float]  # kind retry: seconds until the job may run again


Document = Success | Failure


class Progress(TypedDict):
    done: float
    total: float | None
    note: str


class Step(TypedDict):
    name: str
    result: Any  # any JSON value


class StepAnswer(TypedDict):
    step: str
    stored: bool
    error: NotRequired[str]


NOTE_MAX = 200  # characters of a progress note
STEP_NAME_MAX = 200  # characters of a step's name
STEP_MAX_BYTES = 1 << 20  # a step's result, as JSON
MESSAGE_MAX_BYTES = STEP_MAX_BYTES + 4096  # a message frame, its envelope included


class Exit(enum.IntEnum):
    """Runner exit codes; anything else (or a signal) means the runner crashed."""

    OK = 0  # result sent, job done
    FAILED = 1  # failure document sent
    BOOTSTRAP = 70  # the runner could not set itself up (nothing sent)
    PARENT_GONE = 71  # the fork server died before the runner started the job


class FailureKind(enum.StrEnum):
    EXCEPTION = "exception"  # the handler raised: retry
    PERMANENT = "permanent"  # retrying cannot help (bad input, unknown type): fail now
    SOFT_TIME_LIMIT = "soft_time_limit"  # SIGTERM reached the handler
    MEMORY = "memory"  # MemoryError under the kernel backstop
    RETRY = "retry"  # the handler raised runner.Retry(delay=…): run again later


# One encoder, made in the fork server: json.dumps with options builds a new one per call,
# which a runner pays in page faults (copy-on-write) as well as in time.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def encode(document: Document) -> bytes:
    """The framed bytes of `document`."""
    body = _ENCODER.encode(document).encode()
    return HEADER.pack(len(body)) + body


def message(kind: Literal["progress", "step"], body: Progress | Step) -> bytes:
    """The framed bytes of a message sent while the handler runs."""
    return _frame({kind: body})


def answer(name: str, error: str | None = None) -> bytes:
    """The framed bytes of the supervisor's answer to step `name`."""
    body: StepAnswer = {"step": name, "stored": error is None}
    if error is not None:
        body["error"] = error
    return _frame(body)


def _frame(body: Any) -> bytes:
    data = _ENCODER.encode(body).encode()
    return HEADER.pack(len(data)) + data


def is_message(document: dict[str, Any]) -> bool:
    """Whether a decoded frame is a message sent while the handler ran (not its result)."""
    return "ok" not in document and len(document) == 1 and ("progress" in document
                                                            or "step" in document)  # fmt: skip


def progress_problem(body: Any) -> str | None:
    """What makes a progress message's body unusable, or None."""
    if not isinstance(body, dict):
        return "progress not an object"
    done, total = body.get("done"), body.get("total")
    if not _number(done) or (total is not None and not _number(total)):
        return "progress: done and total not numbers"
    return None if isinstance(body.get("note", ""), str) else "progress: note not a string"


def step_problem(body: Any) -> str | None:
    """What makes a step message's body unusable, or None."""
    if not isinstance(body, dict) or set(body) != {"name", "result"}:
        return "step not an object with a name and a result"
    name = body["name"]
    if not isinstance(name, str) or not name or len(name) > STEP_NAME_MAX:
        return f"step name not a string of 1 to {STEP_NAME_MAX} characters"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < 1e15


def frame_length(buffer: bytes | bytearray) -> int | None:
    """The total length (header included) of the frame starting `buffer`, once it is known."""
    if len(buffer) < HEADER.size:
        return None
    (length,) = HEADER.unpack_from(buffer)
    return int(HEADER.size + length)


def decode(buffer: bytes | bytearray) -> dict[str, Any] | None:
    """The JSON object in the first complete frame that is not a message (the result
    document), or None for a missing, partial or garbled one.
    What the supervisor then reads of it passes `problem` first (`checked`)."""
    while True:
        total = frame_length(buffer)
        if total is None or len(buffer) < total:
            return None
        document = decode_frame(buffer[HEADER.size : total])
        if document is None or not is_message(document):
            return document
        buffer = buffer[total:]


def messages(buffer: bytes | bytearray, start: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete messages framed in `buffer` from offset `start`, and the offset after
    them (where the next frame, or the result document, begins)."""
    found: list[dict[str, Any]] = []
    while True:
        total = frame_length(buffer[start:])
        if total is None or len(buffer) < start + total:
            return found, start
        document = decode_frame(buffer[start + HEADER.size : start + total])
        if document is None or not is_message(document):
            return found, start
        found.append(document)
        start += total


def decode_frame(body: bytes | bytearray) -> dict[str, Any] | None:
    """The JSON object of a frame's body, or None for a garbled one."""
    try:
        document = json.loads(bytes(body))
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def checked(raw: dict[str, Any]) -> Document | str:
    """`raw` as the document it is, or what is wrong with it."""
    wrong = problem(raw)
    return wrong if wrong is not None else cast(Document, raw)


def problem(document: dict[str, Any]) -> str | None:
    """What makes `document` unusable as a result (a handler may write to the pipe itself),
    or None: the supervisor reads only documents that pass."""
    if not isinstance(document.get("ok"), bool):
        return "no 'ok' flag"
    if not document["ok"]:
        return _failure_problem(document)
    insights = document.get("insights")
    if not isinstance(insights, list):
        return "insights not a list"
    for i, insight in enumerate(insights):
        if not isinstance(insight, dict) or insight.get("content") is None:
            return f"insight {i} has no content"
        kind, score = insight.get("insight_type"), insight.get("confidence_score")
        if kind is not None and not isinstance(kind, str):
            return f"insight {i}: insight_type not a string"
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            return f"insight {i}: confidence_score not a number"
    return None


def _failure_problem(document: dict[str, Any]) -> str | None:
    fields = (document.get("kind"), document.get("message"))
    if not all(isinstance(f, str) for f in fields):
        return "no kind or message string"
    names = document.get("exception", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "exception not a list of class names"
    delay = document.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9:
        return "delay not a number of seconds"
    return None


def success(insights: list[Insight]) -> Success:
    return {"ok": True, "insights": insights}


def failure(
    kind: FailureKind, message: str, traceback: str = "", exception: list[str] | None = None
) -> Failure:
    document: Failure = {"ok": False, "kind": str(kind), "message": message,
                         "traceback": traceback}  # fmt: skip
    if exception:
        document["exception"] = exception  # the class name first, then its bases'
    return document


def retry(delay: float, message: str) -> Failure:
    return {"ok": False, "kind": str(FailureKind.RETRY), "message": message, "delay": delay}
