"""A runner's whole life after fork: become a runner, run the handler, report, leave.

`run` never returns: every path ends in `os._exit`, so nothing inherited from the supervisor
(its database connections, atexit hooks, buffered output) is ever touched or flushed here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import os
import resource
import signal
import sys
import traceback
from typing import Any, NoReturn

from runner import confine, flow, handlers, linux, protocol, tracing
from runner.errors import PermanentFailure, Retry, SoftTimeLimitExceeded
from runner.job import RunnerSpec
from runner.protocol import Exit, FailureKind

TRACEBACK_TAIL = 2048
RUNNER_TITLE = "jobsup: runner"  # then the job's id and type: `ps` shows what runs


def run(spec: RunnerSpec, result_fd: int, output_fd: int) -> NoReturn:
    """Run `spec.job` in this freshly forked process and exit with an `Exit` code."""
    code = Exit.BOOTSTRAP
    try:
        become_runner(spec, output_fd)
        code = run_job(spec, result_fd)
    except BaseException:  # a bug in jobsup itself: leave the traceback in the output
        traceback.print_exc()
    finally:
        _flush_output()
        os._exit(code)


def prepare(preload: list[str]) -> None:
    """What every runner needs that can be done once, in the fork server before it forks:
    the handler modules shipped with jobsup imported, stdin from /dev/null, line-buffered
    text streams on fds 1 and 2 (which each runner points at its pipe), and loguru's
    runner sink when a preloaded handler uses loguru."""
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception as e:  # the runner imports it again and reports the error on the job
            print(f"jobsup fork server: cannot preload {module}: {e}", file=sys.stderr)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = _text_stream(1)
    sys.stderr = _text_stream(2)
    if "loguru" in sys.modules:
        _configure_loguru()


def become_runner(spec: RunnerSpec, output_fd: int) -> None:
    """Own process group, death with the parent, output into the pipe (the fork server has
    set its signal handlers back to the defaults)."""
    os.setpgid(0, 0)  # the supervisor signals the runner's whole tree through its group
    if spec.nice:  # below the supervisor's priority, and so its descendants' (inherited)
        os.nice(spec.nice)
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != spec.parent_pid:  # the parent died before PDEATHSIG was armed
        os._exit(Exit.PARENT_GONE)
    # Orphaned descendants (double forks, setsid daemons) re-parent to the runner instead of
    # init, so they stay in the tree the supervisor measures and kills.
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    os.environ["JOBSUP_JOB_ID"] = spec.job.id  # inherited: marks the whole tree as this job's
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    set_title(f"{RUNNER_TITLE} {spec.job.id} {spec.job.type}")
    global _log_level
    _log_level = spec.log_level
    if spec.hard_memory_bytes:
        _limit_address_space(spec.hard_memory_bytes)
    if spec.run_as is not None:  # last: what came before needed the fork server's rights
        confine.drop_privileges(spec.run_as, spec.parent_pid)


def _limit_address_space(resident_bytes: int) -> None:
    """Kernel backstop: allocations beyond `resident_bytes` more than now fail (MemoryError).

    RLIMIT_AS counts mapped memory, not resident: what is mapped but not resident at start
    (inherited from the supervisor) is added, so the margin is the memory limit itself.
    """
    mapped, resident = linux.memory()
    limit = mapped - resident + resident_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_job(spec: RunnerSpec, result_fd: int) -> Exit:
    """Call the handler and send its result document; the exit code to leave with."""
    _import_handler(spec.handler)  # before the span: its module may set up OpenTelemetry
    with tracing.run_span(spec.job) as outcome:
        document = call_handler(spec, result_fd)
        outcome("completed" if document["ok"] else document["kind"])
    with contextlib.suppress(OSError):  # the last progress, before the result
        flow.flush()
    return send(document, result_fd, spec.result_max_bytes)


def _import_handler(path: str) -> None:
    """Import the handler's module now if it can be; if not, `call_handler` reports why."""
    with contextlib.suppress(Exception, SystemExit):
        importlib.import_module(path.partition(":")[0])


def call_handler(spec: RunnerSpec, result_fd: int) -> protocol.Document:
    """The result document of the handler's call (its insights, or how it failed)."""
    signal.signal(signal.SIGTERM, _raise_soft_time_limit)
    document: protocol.Document
    try:
        files = confine.check_files(spec.job.files, spec.files_root)
        # replace() costs a runner ~60 page faults of its own (~0.3 ms): only when it must.
        job = spec.job if files == spec.job.files else dataclasses.replace(spec.job, files=files)
        handler = handlers.load(spec.handler)
        flow.attach(result_fd)
        document = protocol.success(handlers.insights_of(handler(job)))
    except PermanentFailure as e:
        document = protocol.failure(FailureKind.PERMANENT, str(e))
    except Retry as e:
        document = protocol.retry(e.delay, str(e))
    except SoftTimeLimitExceeded:
        document = _failure(FailureKind.SOFT_TIME_LIMIT)
    except MemoryError:
        limit = spec.job.memory_limit_mb
        message = f"memory limit exceeded: allocation refused at the kernel limit ({limit} MiB)"
        document = protocol.failure(
            FailureKind.MEMORY, message, traceback.format_exc()[-TRACEBACK_TAIL:]
        )
    except BaseException:  # SystemExit and KeyboardInterrupt from a handler are failures too
        document = _failure(FailureKind.EXCEPTION)
    finally:
        # A SIGTERM from here on ends the runner at once: the supervisor knows why it sent it.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return document


def send(document: protocol.Document, fd: int, max_bytes: int) -> Exit:
    """Write `document` (or the reason it cannot be sent) to the result pipe."""
    try:
        data = protocol.encode(document)
    except (TypeError, ValueError) as e:
        document = protocol.failure(FailureKind.PERMANENT, f"result is not JSON-serialisable: {e}")
        data = protocol.encode(document)
    if len(data) > max_bytes:
        message = f"result too large: {_kib(len(data))} > {_kib(max_bytes)} (result_max_kb)"
        document = protocol.failure(FailureKind.PERMANENT, message)
        data = protocol.encode(document)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return Exit.OK if document["ok"] else Exit.FAILED


def _failure(kind: FailureKind) -> protocol.Failure:
    error = sys.exc_info()[1]
    message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    names = [c.__name__ for c in type(error).__mro__ if c is not object]  # for retry_on
    return protocol.failure(kind, message, traceback.format_exc()[-TRACEBACK_TAIL:], names)


def _raise_soft_time_limit(_signum: int, _frame: Any) -> None:
    raise SoftTimeLimitExceeded("soft time limit exceeded")


_log_level = "INFO"


def _configure_loguru() -> None:
    """Runners' loguru lines, plain, into their output pipe (which the supervisor logs with
    the job id), at the supervisor's level: set up once, as `logger.add` costs milliseconds."""
    from loguru import logger

    def at_level(record: Any) -> bool:
        return bool(record["level"].no >= logger.level(_log_level).no)

    logger.remove()
    logger.add(_write_to_stderr, format="{level}: {message}", filter=at_level,
               level=0, colorize=False, backtrace=False, diagnose=False)  # fmt: skip


def _write_to_stderr(message: str) -> None:
    sys.stderr.write(message)  # whatever sys.stderr is now: the runner's pipe


def _text_stream(fd: int) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, line_buffering=True, errors="backslashreplace")


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def set_title(title: str) -> None:
    try:
        import setproctitle

        setproctitle.setproctitle(title)
    except ImportError:
        pass


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} KiB"
