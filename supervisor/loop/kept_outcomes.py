"""Outcomes a supervisor could not write before it stopped (the database unreachable through
its drain), kept in its state directory and written at the next start.

One file per stopped supervisor, `<state_dir>/kept/<worker id>.json`, written atomically
(a temporary file, fsync, rename, fsync of the directory). The next supervisor started from
that state directory loads them before it claims or beats, and writes each under the claim
it ran in (the old worker id and lease): a job reset, reclaimed or claimed again since is
not written (dropped and logged, as a late result is). A file is removed once its outcomes
went through the write-back statement; until then it stays for the next try.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg2
from loguru import logger

from supervisor import statedir
from supervisor.db.connect import Connection
from supervisor.errors import describe
from supervisor.logs import job_logger
from supervisor.loop.database import Done, Request, Unavailable
from supervisor.runners.outcome import Kind, Outcome
from supervisor.store import statements as store

DIRECTORY = "kept"
VERSION = 1


@dataclass(frozen=True)
class Kept:
    """The outcomes a stopped supervisor (`worker_id`) left in `path`."""

    worker_id: str
    outcomes: list[Outcome]
    path: Path


def directory(state_dir: Path) -> Path:
    return state_dir / DIRECTORY


def save(state_dir: Path, worker_id: str, outcomes: Sequence[Outcome]) -> Path:
    """Keep `outcomes` of claims made by `worker_id`, durably; the file written."""
    folder = statedir.ensure(directory(state_dir))
    path = folder / f"{worker_id}.json"
    document = {"version": VERSION, "worker_id": worker_id,
                "outcomes": [_dump(o) for o in outcomes]}  # fmt: skip
    temporary = folder / f".{worker_id}.json.tmp"
    with open(temporary, "w", encoding="utf-8", opener=statedir.private_opener) as f:
        json.dump(document, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    _fsync_directory(folder)
    return path


def load(state_dir: Path) -> list[Kept]:
    """Every kept file in `state_dir`; one that cannot be read is said in one line and left
    where it is (an operator may look at it)."""
    folder = directory(state_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            kept = Kept(str(document["worker_id"]),
                        [_load(o) for o in document["outcomes"]], path)  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.error("kept results {} cannot be read ({}): left as they are", path, e)
            continue
        found.append(kept)
    return found


@dataclass(frozen=True)
class Report:
    """What writing kept outcomes did: the jobs written, those whose claim no longer held."""

    written: list[str]
    dropped: list[str]
    error: str | None = None  # the database refused the write: the files stay


def write(conn: Connection, kept: Sequence[Kept]) -> Report:
    """On the database thread: write each file's outcomes under its own claims, removing the
    file once written. A lost connection raises; a refusal (a read-only database) stops at
    that file and is reported."""
    written: list[str] = []
    dropped: list[str] = []
    for group in kept:
        try:
            ids = store.finish(conn, group.worker_id, group.outcomes)
        except psycopg2.Error as e:
            if conn.closed:
                raise
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
            return Report(written, dropped, describe(e))
        written += [o.job_id for o in group.outcomes if o.job_id in ids]
        dropped += [o.job_id for o in group.outcomes if o.job_id not in ids]
        group.path.unlink(missing_ok=True)
        _fsync_directory(group.path.parent)
    return Report(written, dropped)


def report(done: Report, kept: Sequence[Kept]) -> None:
    """The loop's lines about `done`."""
    for job_id in done.written:
        job_logger(job_id).info("kept result written (it could not be before the last stop)")
    for job_id in done.dropped:
        job_logger(job_id).warning(
            "kept result not written: the job is no longer under the claim it ran in "
            "(reset, reclaimed or cancelled meanwhile)"
        )
    if done.error is not None:
        count = sum(len(k.outcomes) for k in kept)
        logger.warning("{} kept results not written yet: {}", count, done.error)


class Keeper:
    """The loop's side: the kept files loaded at start, the request that writes them (before
    any claim or heartbeat), and when to try again after a refusal."""

    RETRY = 60.0  # seconds between tries while the database refuses writes

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.kept: list[Kept] = []
        self.retry_at = 0.0  # monotonic

    def load(self) -> None:
        self.kept = load(self.state_dir)
        count = sum(len(k.outcomes) for k in self.kept)
        if count:
            logger.info(
                "{} results kept by a supervisor that stopped before it could write them "
                "({}): writing them first", count, directory(self.state_dir),
            )  # fmt: skip

    def due(self, now: float) -> bool:
        return bool(self.kept) and now >= self.retry_at

    def deadline(self) -> float | None:
        return self.retry_at if self.kept else None

    def request(self) -> Request[Report]:
        return Request("kept results", partial(write, kept=list(self.kept)))

    def answered(self, done: Done[Report], now: float) -> None:
        if not done.ok:
            if not isinstance(done.error, Unavailable):
                logger.error("writing kept results failed: {}", done.error)
            self.retry_at = now + (0.0 if isinstance(done.error, Unavailable) else self.RETRY)
            return
        result = done.result()
        report(result, self.kept)
        self.kept = [k for k in self.kept if k.path.exists()]
        if result.error is not None:
            self.retry_at = now + self.RETRY

    def keep(self, worker_id: str, outcomes: Sequence[Outcome]) -> None:
        """At the stop: keep what could not be written, for the next start."""
        if not outcomes:
            return
        try:
            path = save(self.state_dir, worker_id, outcomes)
        except OSError as e:
            logger.error("{} results not written and not kept ({}): those jobs will be "
                         "reclaimed", len(outcomes), e)  # fmt: skip
            return
        logger.warning("{} results not written (database unreachable): kept in {}, written at "
                       "the next start while their claims hold", len(outcomes), path)  # fmt: skip


def _dump(outcome: Outcome) -> dict[str, Any]:
    fields = dataclasses.asdict(outcome)
    fields["kind"] = outcome.kind.value
    fields["insights"] = [dict(i) for i in outcome.insights]
    return fields


def _load(fields: dict[str, Any]) -> Outcome:
    return Outcome(**{**fields, "kind": Kind(fields["kind"])})


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
