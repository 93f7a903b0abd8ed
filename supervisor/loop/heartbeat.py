"""The heartbeat and the lease, as the loop sees them: when to beat, what to ask, and what
the beat found (the runners to kill: their jobs are no longer this supervisor's).

It owns when the last beat went through (`renewed`), whether the lease is lost (`fenced`:
no claims, and by default no runners), and the periodic schedules' timetable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from loguru import logger

from supervisor import logs
from supervisor.config import Config, RetentionConfig
from supervisor.identity import Identity
from supervisor.logs import job_logger
from supervisor.loop.database import Done, Request, Unavailable
from supervisor.metrics import METRICS
from supervisor.runners.pool import Snapshot
from supervisor.runners.state import KillReason
from supervisor.scheduling import periodic
from supervisor.store import retention, upkeep
from supervisor.store import statements as store


@dataclass(frozen=True)
class Kill:
    """A runner to kill: its claim (job id, lease) no longer holds the job."""

    job_id: str
    lease: int
    reason: KillReason
    detail: str = ""


@dataclass(frozen=True)
class Heard:
    """What a heartbeat or an ownership check found, for the loop to act on."""

    kills: list[Kill] = field(default_factory=list)
    claim_again: bool = False  # jobs came free, or the lease holds again: claim now
    found: upkeep.Found | None = None  # the beat's whole answer (None: an ownership check)
    sent: float = 0.0  # monotonic: when the beat was asked
    refused: str | None = None  # the database refuses writes: why


class Heartbeat:
    def __init__(self, config: Config, me: Identity, schedules: list[periodic.Schedule]) -> None:
        self.config = config
        self.me = me
        self.next_at = 0.0  # monotonic: the next beat
        self.renewed = 0.0  # monotonic: when the last heartbeat that went through was sent
        self.fenced = False  # the lease is lost: no claims (and, by default, no runners)
        self.check_owned = False  # a control notification asks for an ownership check now
        # The database's clock less the host's: schedules are judged by the database's.
        self.offset: timedelta | None = None  # None: not measured yet
        self._sent_wall = datetime.now(UTC)
        self.timetable = periodic.Timetable(schedules, self.database_now())
        self._sent: tuple[float, Mapping[str, int]] | None = None  # when, and the claims asked
        self.prune_at = 0.0  # monotonic: when the retention policy is next applied
        self.unregistered = False  # connected, but the database refused the registration

    def reconfigure(self, config: Config, schedules: list[periodic.Schedule]) -> None:
        """SIGHUP: the new timers, and the schedules of the job types now served."""
        self.config = config
        self.timetable.reload(schedules, self.database_now())

    def connected(self, now: float, renewed: bool = True) -> None:
        """A new connection registered this supervisor (`renewed`): as good as a beat; beat
        at once."""
        if renewed or not self.renewed:  # the first connection: no job of ours to lose yet
            self.renewed = max(self.renewed, now)
        self.unregistered = not renewed  # refused (read-only): the beat registers it
        self.next_at = now

    def database_now(self) -> datetime:
        """The database's clock, as the last beat measured it from this host's."""
        return datetime.now(UTC) + (self.offset or timedelta(0))

    def measured(self, database_now: datetime | None, asked_at: datetime) -> None:
        """The offset from the database's clock read during a request asked at `asked_at`
        (host clock), to within the round trip."""
        if database_now is None:
            return
        offset = database_now - (asked_at + (datetime.now(UTC) - asked_at) / 2)
        if self.offset is None:  # what the timetable took for "now" at the start was the host's
            self.timetable.shift(offset)
        self.offset = offset

    def lease_deadline(self) -> float:
        return self.renewed + self.config.supervisor.lease_after

    def request(self, now: float, asked: upkeep.Beat) -> Request[upkeep.Found]:
        self.next_at = now + self.config.supervisor.heartbeat_interval
        slot_in = self.timetable.seconds_to_next(self.database_now())  # periodic: on time
        if slot_in is not None:
            self.next_at = min(self.next_at, now + slot_in)
        self._sent = (now, asked.claims)
        self._sent_wall = datetime.now(UTC)
        return Request("heartbeat", partial(upkeep.beat, me=self.me, asked=asked))

    def beat(self, now: float, pool: Snapshot, unwritten: Mapping[str, int], state: str,
             slots: int, job_types: Sequence[str], config_name: str, watched: float,
             count_queue: bool) -> upkeep.Beat:  # fmt: skip
        """What to ask of the database: the runners' figures and claims, the claims whose
        outcome waits to be written, and the upkeep this supervisor does for everyone."""
        sup, cfg = self.config.supervisor, self.config
        return upkeep.Beat(
            state=state, slots=slots, job_types=job_types, config_name=config_name,
            figures=pool.figures, claims=pool.claims, known={**pool.claims, **unwritten},
            pids=pool.pids, watched=watched, stale_after=sup.stale_after,
            orphan_after=sup.orphan_after, max_retries=cfg.retry.max_retries,
            count_queue=count_queue,
            type_retries={n: t.retry.max_retries for n, t in cfg.job_types.items()},
            # Not before the database's clock is known: a slot falls due by it.
            periodic=self.timetable.entries() if self.offset is not None else (),
            retention=self._retention(now),
        )  # fmt: skip

    def _retention(self, now: float) -> RetentionConfig | None:
        """The retention policy when it is due (every `[retention] interval` seconds, and at
        once again while a turn's time budget left jobs to prune), else None."""
        policy = self.config.retention
        if now < self.prune_at or not policy.ages():
            return None
        self.prune_at = now + policy.interval  # until the answer says there is more
        return policy

    def answered(self, done: Done[upkeep.Found]) -> Heard:
        assert self._sent is not None  # nosec B101  # a bug: an answer to nothing asked
        (sent, claims), self._sent = self._sent, None
        if not done.ok:
            if not isinstance(done.error, Unavailable):
                logger.opt(exception=done.error).error("heartbeat failed")
            return Heard()
        found = done.result()
        self.measured(found.database_now, self._sent_wall)
        for error in found.errors:
            logger.error(error)
        claim_again = False
        if found.refused is not None:
            return self._refused(found, claims, sent)
        if found.renewed:
            self.renewed = max(self.renewed, sent)
            if self.fenced:
                self.fenced = False
                logger.success("heartbeat went through again: claiming again")
                claim_again = True
        if found.registered_again and self.unregistered:
            logger.info("registered: the database takes writes")
        elif found.registered_again:
            logger.warning("this supervisor had been declared dead: registered again")
        self.unregistered &= not found.renewed
        claim_again |= _reclaimed(found.reclaimed)
        for job_id in found.released:
            job_logger(job_id).warning("held but never started here (claim lost): back to pending")
        for slot in found.enqueued:
            job_logger(slot.job_id).info("periodic {}: enqueued the slot of {}", slot.name,
                                         periodic.iso(slot.slot))  # fmt: skip
        if found.retained is not None:
            self._retained(found.retained, sent)
        if found.paused is not None:
            METRICS.set_paused([p.job_type for p in found.paused])
        kills = _kills(claims, found.lost)
        logs.event("heartbeat").debug("heartbeat: {} runners, {} reclaimed, {} no longer ours",
                     len(claims), len(found.reclaimed.jobs) if found.reclaimed else 0,
                     len(found.lost))  # fmt: skip
        return Heard(kills, claim_again or bool(found.released), found, sent)

    def _refused(self, found: upkeep.Found, claims: Mapping[str, int], sent: float) -> Heard:
        """A beat the database refused to write: while no peer's heartbeat goes through
        either, nobody can reclaim this supervisor's jobs, and its lease holds (its runners go
        on); once one does, the lease runs out as if it were cut off."""
        if not found.others_write:
            self.renewed = max(self.renewed, sent)
        return Heard(_kills(claims, found.lost), False, found, sent, refused=found.refused)

    def _retained(self, retained: retention.Retained, sent: float) -> None:
        if retained.more:
            self.prune_at = sent  # the next beat goes on pruning
        for status, jobs in retained.jobs.items():
            METRICS.pruned_jobs(status, jobs)
        if retained.deleted:
            per_status = ", ".join(f"{n} {status}" for status, n in retained.jobs.items())
            logger.info("retention: deleted {} finished jobs ({}) with {} insights in {} batches"
                        "{}", retained.deleted, per_status, retained.insights, retained.batches,
                        "; more to delete" if retained.more else "")  # fmt: skip

    def ownership_request(self, claims: dict[str, int]) -> Request[dict[str, str | None]]:
        """Which of `claims` (job id: lease) still hold their jobs (a control notification)."""
        self.check_owned = False
        self._sent = (0.0, claims)
        return Request("ownership check", partial(store.owned, worker_id=self.me.id, claims=claims))

    def owned(self, done: Done[dict[str, str | None]]) -> Heard:
        assert self._sent is not None  # nosec B101  # a bug: an answer to nothing asked
        (_, claims), self._sent = self._sent, None
        if done.ok:
            return Heard(_kills(claims, done.result()))
        if not isinstance(done.error, Unavailable):
            logger.opt(exception=done.error).error("ownership check failed")
        return Heard()

    def fence(self, now: float, running: int) -> str | None:
        """A supervisor whose heartbeat has not gone through for `lease_after` seconds may
        soon be declared dead by its peers: it stops claiming and, unless told to let them
        finish, kills its runners before those peers may reclaim their jobs (the detail of
        that kill, returned)."""
        silent = now - self.renewed
        lease_after = self.config.supervisor.lease_after
        if self.fenced or silent < lease_after:
            return None
        self.fenced = True
        if self.config.supervisor.on_lost_lease == "finish" or not running:
            logger.error("no heartbeat went through for {:.0f} s (lease_timeout {:g} s): "
                         "claiming nothing until one does", silent, lease_after)  # fmt: skip
            return None
        logger.error("no heartbeat went through for {:.0f} s (lease_timeout {:g} s): killing "
                     "{} runners before peers may reclaim their jobs",
                     silent, lease_after, running)  # fmt: skip
        return f"lease lost: no heartbeat went through for {silent:.0f} s; runner killed"


def _reclaimed(reclaimed: store.Reclaimed | None) -> bool:
    """Log what was reclaimed from dead peers; whether jobs came free."""
    if reclaimed is None:
        return False
    for worker_id, host, pid, why in reclaimed.dead_workers:
        logger.warning("supervisor {} ({} pid {}) declared dead: {}", worker_id, host, pid, why)
    for job_id, status, error, job_type in reclaimed.jobs:
        job_logger(job_id).warning("reclaimed, now {}: {}", status, error)
        METRICS.reclaimed(job_type)
    return bool(reclaimed.jobs)


def _kills(claims: Mapping[str, int], lost: Mapping[str, str | None]) -> list[Kill]:
    """The runners of those `claims` (job id: lease) that no longer hold their job; one still
    starting is killed as soon as it has started."""
    kills = []
    for job_id, status in lost.items():
        log = job_logger(job_id)
        if status == "cancelled":
            log.warning("job is cancelled: killing its runner")
            kills.append(Kill(job_id, claims[job_id], KillReason.CANCELLED))
            continue
        why = f"the job is {status} under another claim" if status else "the job was deleted"
        log.warning("{}: killing its runner", why)
        detail = f"{why} (reset, reclaimed or deleted): runner killed"
        kills.append(Kill(job_id, claims[job_id], KillReason.LOST, detail))
    return kills
