"""`jobsup run-once`: run one handler on a file in a real runner, without a database.

What a handler author runs while writing one: the job type's handler and limits come from
the configuration, the runner gets the environment and `[files] root` a supervisor's would,
and a failure reads as it would in `error_message`. The work is `runner.testing.run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from runner import testing
from supervisor.cli import cli, config_option, json_option, load_config, print_json
from supervisor.cli.admin import _json_object
from supervisor.cli.common import EXISTING_FILE
from supervisor.cli.jobview import insights_text
from supervisor.config import Config
from supervisor.config import rules as config_rules
from supervisor.runners import handler_modules, privileges, runenv
from supervisor.runners.launch import handler_settings
from supervisor.runners.limits import for_job

EXIT_FAILED = 4  # as `jobs wait` and `start --until-empty` when a job failed


@cli.command("run-once")
@config_option
@click.option("--type", "job_type", default="analysis", help="A job type of the configuration.")
@click.option("--file", "files", type=EXISTING_FILE, multiple=True, help="A file (repeat).")
@click.option("--description", help="The business question the job answers.")
@click.option("--metadata", help="A JSON object handed to the handler.")
@click.option("--details", is_flag=True, help="Each insight's details too.")
@click.option("--quiet", is_flag=True, help="Do not print the handler's output.")
@json_option
def run_once(
    job_type: str, files: tuple[Path, ...], description: str | None, metadata: str | None,
    details: bool, quiet: bool, as_json: bool,
) -> None:  # fmt: skip
    """Run the handler of --type on --file in a runner under the type's limits and print
    the insights, with no database and no supervisor.

    The handler's output goes to stderr as it comes. Exit status 0 when it completed, 4 when
    it failed (the error as a supervisor would record it is printed).
    """
    handed = _json_object(metadata) if metadata else {}
    cfg = load_config()
    if job_type not in cfg.job_types:
        why = config_rules.unknown_job_type(job_type, cfg)
        raise click.BadParameter(why, param_hint="'--type'")
    options = _runner_options(cfg, job_type, handed)
    try:
        insights = testing.run(
            cfg.job_types[job_type].handler, files, metadata=handed, description=description,
            job_type=job_type, echo=not quiet and not as_json, **options,
        )  # fmt: skip
    except testing.JobFailed as e:
        _report_failure(e, as_json)
        raise SystemExit(EXIT_FAILED) from None
    if as_json:
        print_json({"status": "completed", "insights": insights})
    else:
        click.echo(insights_text(insights, details))


def _runner_options(cfg: Config, job_type: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """What a supervisor with `cfg` would give the runner of such a job."""
    limits = for_job(cfg.job_types[job_type].limits, metadata)
    return {
        "preload": handler_modules.preload(cfg, [job_type]),
        "limits": testing.Limits(
            memory_mb=limits.memory_mb,
            memory_metric=limits.memory_metric,
            check_interval=limits.check_interval,
            hard_memory=limits.hard_memory,
            soft_time_limit=limits.soft_time_limit,
            time_limit=limits.time_limit,
            max_processes=limits.max_processes,
            kill_timeout=cfg.supervisor.kill_timeout,
        ),
        "settings": handler_settings(cfg),
        "files_root": privileges.files_root(cfg),
        "result_max_kb": cfg.supervisor.result_max_kb,
        "environment": runenv.environment(cfg),
    }


def _report_failure(e: testing.JobFailed, as_json: bool) -> None:
    limit = getattr(e, "limit", None)
    if as_json:
        document = {"status": "failed", "error": e.message, "permanent": e.permanent}
        print_json(document | {"limit": limit})
        return
    how = "failed at once, no retry" if e.permanent else "failed, a supervisor would retry"
    click.echo(f"{how}: {e.message}", err=True)
