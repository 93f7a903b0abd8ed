"""Logging with loguru: readable lines on stderr (or JSON lines), optionally a rotated file.

Every line about a job carries its id: log through `job_logger(job_id)`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from loguru import logger

from supervisor.config import LoggingConfig

TEXT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} "


def _format(record: Any) -> str:
    job = "[job {extra[job]}] " if record["extra"].get("job") else ""
    return TEXT + job + "{message}\n{exception}"


def configure(config: LoggingConfig, state_dir: Path, level: str | None = None) -> None:
    """Send logs where `config` says, at `level` (a flag) or the configured level."""
    logger.remove()
    # diagnose=False: tracebacks never print local variables (they may hold a password).
    options: dict[str, Any] = {
        "level": level or config.level,
        "serialize": config.json,
        "backtrace": False,
        "diagnose": False,
    }
    logger.add(sys.stderr, format=_format, **options)
    if config.file:
        path = Path(config.file)
        path = path if path.is_absolute() else state_dir / path
        logger.add(path, format=_format, rotation=config.rotation,
                   retention=config.retention, **options)  # fmt: skip


def job_logger(job_id: str) -> Any:
    """The logger to use for everything about job `job_id`."""
    return logger.bind(job=job_id)
