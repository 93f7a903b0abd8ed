"""Where a runner's CPU goes: children forked from a process set up as the fork server is
(the benchmark's handler modules preloaded, `gc.freeze`), each doing one more of a runner's
steps than the last, with the child's CPU and minor page faults from wait4.

    .venv/bin/python scripts/bench_runner.py              # 400 children a step
    .venv/bin/python scripts/bench_runner.py --forks 1000

A fork's child pays for every page it writes that it shares with its parent (a
copy-on-write fault); in Python, touching an object writes its reference count, so what a
step costs is mostly the pages it touches.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle  # nosec B403  # our own spec, as the supervisor sends it
import signal
from collections.abc import Callable

from runner import bootstrap, confine, handlers, linux, protocol
from runner.job import Job, RunnerSpec

SPEC = RunnerSpec(job=Job(id="0b5e1b7e-6f43-4d43-9f3b-1c2d3e4f5a6b", type="diag.noop", lease=7),
                  handler="runner.diag:noop", parent_pid=os.getpid())  # fmt: skip


class Child:
    """A runner's steps, in order, as `bootstrap` and `forkserver` take them."""

    def __init__(self, spec_fd: int, sink: int) -> None:
        self.spec_fd, self.sink = spec_fd, sink
        self.spec = SPEC
        self.document: protocol.Document = protocol.success([])

    def unpickle(self) -> None:
        data = os.pread(self.spec_fd, os.fstat(self.spec_fd).st_size, 0)
        self.spec = pickle.loads(data)  # nosec B301  # written just above, by us

    def own_group(self) -> None:
        os.setpgid(0, 0)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.getppid()
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        os.environ["JOBSUP_JOB_ID"] = self.spec.job.id

    def output(self) -> None:
        os.dup2(self.sink, 1)
        os.dup2(self.sink, 2)

    def title(self) -> None:
        bootstrap.set_title(f"jobsup: runner {self.spec.job.id} {self.spec.job.type}")

    def handler(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: None)
        confine.check_files(self.spec.job.files, self.spec.files_root)
        handler = handlers.load(self.spec.handler)
        self.document = protocol.success(handlers.insights_of(handler(self.spec.job)))
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def send(self) -> None:
        os.write(self.sink, protocol.encode(self.document))


STEPS: list[tuple[str, Callable[[Child], None]]] = [
    ("unpickle the spec", Child.unpickle),
    ("own group, death signal, environment", Child.own_group),
    ("output to its pipe", Child.output),
    ("process title", Child.title),
    ("load and call the handler, check its result", Child.handler),
    ("encode and send the result", Child.send),
]


def measure(steps: int, forks: int, spec_fd: int, sink: int) -> tuple[float, float]:
    """Mean CPU ms and minor faults of a child that takes the first `steps` steps."""
    cpu = faults = 0.0
    for _ in range(forks):
        pid = os.fork()
        if pid == 0:
            child = Child(spec_fd, sink)
            for _, step in STEPS[:steps]:
                step(child)
            os._exit(0)
        _, _, usage = os.wait4(pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
        faults += usage.ru_minflt
    return cpu / forks * 1000, faults / forks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forks", type=int, default=400, help="children per step")
    args = parser.parse_args()
    bootstrap.prepare(["runner.diag", "benchlib.handlers"])
    bootstrap.set_title("jobsup: fork server")
    gc.freeze()
    spec_fd = os.memfd_create("spec")
    os.write(spec_fd, pickle.dumps(SPEC))
    sink = os.open(os.devnull, os.O_WRONLY)
    print(f"{args.forks} children a step; mean child CPU and minor faults")
    before_ms, before_faults = measure(0, args.forks, spec_fd, sink)
    print(f"{'fork and _exit':48} {before_ms:6.3f} ms {before_faults:5.0f} faults")
    for steps, (name, _) in enumerate(STEPS, 1):
        ms, faults = measure(steps, args.forks, spec_fd, sink)
        print(f"{'+ ' + name:48} {ms - before_ms:+6.3f} ms {faults - before_faults:+5.0f} faults")
        before_ms, before_faults = ms, faults
    print(f"{'a whole runner':48} {before_ms:6.3f} ms {before_faults:5.0f} faults")


if __name__ == "__main__":
    main()
