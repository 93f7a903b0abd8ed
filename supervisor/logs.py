"""Logging with loguru: readable lines on stderr (or JSON lines), optionally a rotated file.

Every line about a job carries its id: log through `job_logger(job_id)`. JSON lines are one
flat object each, the fields log shippers index: `time` (ISO 8601 with offset), `level`,
`message`, and where they apply `job`, `job_type`, `attempt`, `supervisor` (its id in
jobsup_workers), `event` (bind it: `logger.bind(event="claim")`), `exception`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from loguru import logger

from supervisor import statedir
from supervisor.config import LoggingConfig

TEXT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} "
FIELDS = ("job", "job_type", "attempt", "supervisor", "event")  # bound extras JSON carries


def _format(record: Any) -> str:
    job = "[job {extra[job]}] " if record["extra"].get("job") else ""
    return TEXT + job + "{message}\n{exception}"


def _json_format(record: Any) -> str:
    """One flat JSON object for `record`, handed to loguru as an already formatted field
    (loguru's own `serialize` nests everything under `text` and `record`)."""
    line: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "message": record["message"],
    }
    extra = record["extra"]
    line |= {name: extra[name] for name in FIELDS if extra.get(name) is not None}
    if record["exception"] is not None:
        kind, value, tb = record["exception"]
        line["exception"] = "".join(traceback.format_exception(kind, value, tb)).rstrip()
    extra["json_line"] = json.dumps(line, default=str)
    return "{extra[json_line]}\n"


def configure(config: LoggingConfig, state_dir: Path, level: str | None = None) -> None:
    """Send logs where `config` says, at `level` (a flag) or the configured level."""
    logger.remove()
    # diagnose=False: tracebacks never print local variables (they may hold a password).
    options: dict[str, Any] = {
        "level": level or config.level,
        "format": _json_format if config.json else _format,
        "backtrace": False,
        "diagnose": False,
    }
    path = None
    if config.file:
        path = Path(config.file)
        path = path if path.is_absolute() else state_dir / path
    if path is None or not _is_stderr(path):  # `--daemon`'s stderr may be that very file
        logger.add(sys.stderr, **options)
    if path is not None:
        logger.add(path, rotation=config.rotation, retention=config.retention,
                   opener=statedir.private_opener, **options)  # fmt: skip


def _is_stderr(path: Path) -> bool:
    """Whether standard error is the file `path` (a daemon's output is <state_dir>/jobsup.log,
    which `[logging] file` may name too): one sink for it, or every line is written twice."""
    try:
        ours, theirs = os.fstat(sys.stderr.fileno()), path.stat()
    except (OSError, ValueError, AttributeError):  # no such file yet, or no real stderr
        return False
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def set_supervisor(worker_id: str) -> None:
    """Every line from now on names this supervisor (its jobsup_workers id) in JSON."""
    logger.configure(extra={"supervisor": worker_id})


def event(name: str, log: Any = logger) -> Any:
    """`log` with the `event` field set, for the lines a log shipper should index by kind."""
    return log.bind(event=name)


def job_logger(job_id: str, job_type: str | None = None, attempt: int | None = None) -> Any:
    """The logger to use for everything about job `job_id` (JSON lines carry the type and
    attempt when given)."""
    fields = {"job_type": job_type, "attempt": attempt}
    return logger.bind(job=job_id, **{k: v for k, v in fields.items() if v is not None})
