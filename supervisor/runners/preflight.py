"""Before `jobsup start` says it is ready (pidfile, READY=1, health): one trial runner, as the
runner user, through the fork server the supervisor then keeps (`runner/preflight.py`).

Without it, a runner user who cannot read Python, jobsup or a handler's module let the
supervisor start, report ready and healthy, and fail every job later (`ModuleNotFoundError`).
A path closed to that user refuses the start in one line naming it; anything the trial cannot
judge (no runner could be forked, it did not finish) is a warning, and the supervisor starts:
its loop already knows how to live with a fork server that cannot fork.
"""

from __future__ import annotations

import importlib.util
import os
import selectors
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from loguru import logger

from runner import preflight as trial_handler
from runner import protocol
from runner.job import Job, RunnerSpec
from runner.parent import Exited, ForkServer, Refused, Started, how_it_ended
from supervisor.config import Config
from supervisor.errors import ConfigError, describe
from supervisor.runners import handler_modules, privileges, runenv

TIMEOUT = 30.0  # seconds for the trial: the server's start, its preloads, the handlers' imports
JOB_ID = "preflight"


@dataclass
class _Trial:
    result_fd: int
    open_fds: set[int]  # its pipes' read ends, until their end of file
    result: bytearray = field(default_factory=bytearray)
    pid: int | None = None
    refused: str = ""  # why no runner was started
    status: int | None = None  # its wait status, once it has exited


def check(config: Config, served: Sequence[str]) -> ForkServer | None:
    """With `[runner] user` (runners become another user): start the fork server for the job
    types `served` and run the trial runner through it; the server,
    for the supervisor's pool. ConfigError naming the first path closed to the runner user.

    None without: runners are the supervisor's own user, who has just read Python, jobsup
    and found every handler module; the fork server's start then overlaps the supervisor's.
    """
    if privileges.run_as(config) is None:
        return None
    began = time.monotonic()
    selector = selectors.DefaultSelector()
    server = ForkServer(selector)
    # The trial's own module too: it then runs even where the user cannot read jobsup's files,
    # and says so.
    server.preload = [*handler_modules.preload(config, served), trial_handler.__name__]
    server.environment = runenv.environment(config)
    try:
        server.start()
        outcome = _run(server, selector, _spec(config, served))
        _judge(outcome, config)
    except BaseException:
        server.close()
        raise
    logger.debug("preflight: a trial runner loaded every handler in {:.0f} ms",
                 (time.monotonic() - began) * 1000)  # fmt: skip
    return server


def _spec(config: Config, served: Sequence[str]) -> RunnerSpec:
    names = [t for t in served if t in config.job_types]
    handlers = sorted({config.job_types[t].handler for t in names})
    paths = [["Python", sys.executable]]
    for handler in handlers:
        origin = _origin(handler.partition(":")[0])
        if origin is not None:
            paths.append([f"handler {handler}", origin])
    job = Job(id=JOB_ID, type="jobsup.preflight",
              metadata={"handlers": handlers, "paths": paths})  # fmt: skip
    return RunnerSpec(job=job, handler=trial_handler.HANDLER, parent_pid=0,
                      run_as=privileges.run_as(config))  # fmt: skip


def _origin(module: str) -> str | None:
    """Where this process finds `module` (the runner user should reach it there too)."""
    with suppress(ImportError, ValueError):
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin and os.path.isabs(spec.origin):
            return spec.origin
    return None


def _run(server: ForkServer, selector: selectors.BaseSelector, spec: RunnerSpec) -> _Trial:
    """Start the trial runner and wait until it has exited and closed its pipes."""
    result_r, output_r = server.request(spec)
    trial = _Trial(result_r, {result_r, output_r})
    for fd in trial.open_fds:
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + TIMEOUT
    while trial.open_fds or (trial.status is None and not trial.refused and server.pid):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in selector.select(left):
            if key.fd in trial.open_fds:
                _read(trial, selector, key.fd)
        _take_events(server, trial)
    for fd in trial.open_fds:
        selector.unregister(fd)
        os.close(fd)
    if trial.status is None and trial.pid is not None:
        with suppress(OSError):
            os.killpg(trial.pid, signal.SIGKILL)
    return trial


def _read(trial: _Trial, selector: selectors.BaseSelector, fd: int) -> None:
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return
    if data:
        if fd == trial.result_fd:
            trial.result += data
        return  # the output: the trial writes none worth keeping
    selector.unregister(fd)
    os.close(fd)
    trial.open_fds.discard(fd)


def _take_events(server: ForkServer, trial: _Trial) -> None:
    for event in server.events():
        if isinstance(event, Started):
            trial.pid = event.pid
        elif isinstance(event, Refused):
            trial.refused = describe(event.error)
        elif isinstance(event, Exited) and event.pid == trial.pid:
            trial.status = event.status


def _judge(trial: _Trial, config: Config) -> None:
    """Refuse (ConfigError) a path closed to the runner user; warn of what cannot be judged."""
    where = config.path or "configuration"
    user = privileges.run_as(config)
    who = f"runners (user {user.user})" if user else "runners"
    raw = protocol.decode(trial.result)
    document = protocol.checked(raw) if raw is not None else "no result"
    if isinstance(document, dict) and document["ok"]:
        (found,) = (insight["content"] for insight in document["insights"])
        if found["closed"]:
            raise ConfigError(f"{where}: {who} cannot start: {found['closed']}")
        for problem in found["unloadable"]:
            logger.warning("preflight: {}: its jobs will fail", problem)
        return
    if trial.refused:
        why = f"no runner could be started ({trial.refused})"
    elif trial.status is None:
        why = f"it did not finish in {TIMEOUT:g} s"
    elif isinstance(document, str):
        why = f"{how_it_ended(trial.status)}, {document}"
    elif not document["ok"]:
        why = document["message"]
    logger.warning("preflight: the trial runner could not check {}: {}", who, why)
