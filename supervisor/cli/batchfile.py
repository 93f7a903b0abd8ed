"""`jobsup enqueue --batch FILE.jsonl --then-type T`: a batch from a file, one job a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from supervisor.errors import JobsupError


def read(path: Path) -> list[dict[str, Any]]:
    """The jobs of a JSON-lines file (one object a line, as `enqueue_many` takes them:
    file_path, description, job_type, metadata, …; blank lines skipped), or JobsupError
    naming the line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise JobsupError(f"--batch {path}: cannot read it: {e}") from None
    jobs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as e:
            raise JobsupError(f"--batch {path}:{number}: invalid JSON: {e.msg}") from None
        if not isinstance(job, dict):
            raise JobsupError(f"--batch {path}:{number}: expected a JSON object, e.g. "
                              '{"file_path": "/data/sales.csv"}')  # fmt: skip
        jobs.append(job)
    if not jobs:
        raise JobsupError(f"--batch {path}: no jobs in it (one JSON object a line)")
    return jobs


def where(path: Path, error: Exception) -> str:
    """An enqueue error about `job 3` as `--batch FILE: line-less job 3: …` reads it:
    the jobs are numbered from 0 in the order of the file's lines."""
    return f"--batch {path}: {error} (jobs numbered from 0 in the file's order)"
