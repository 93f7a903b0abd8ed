"""Configuration: defaults, precedence, and one clear line for every kind of mistake."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest

from supervisor import config
from supervisor.db.connect import Connection
from supervisor.errors import ConfigError
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import Supervisors, add_job, scalar, status, wait_for, write_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobsup.toml"
    path.write_text(text)
    return path


@pytest.mark.unit
def test_defaults_without_a_file() -> None:
    cfg = config.load(None)
    assert cfg.supervisor.interval == 30
    assert cfg.retry.max_retries == 3
    assert cfg.limits.memory_metric == "pss"
    assert cfg.job_types["analysis"].handler == "runner.insights:analysis"
    assert cfg.supervisor.slots >= 1


@pytest.mark.unit
def test_file_values_and_job_type_limits(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [supervisor]
        interval = 5
        job_types = ["analysis"]
        [limits]
        memory_mb = 512
        time_limit = 60
        [job_types.big]
        handler = "runner.diag:allocate"
        memory_mb = 4096
        """,
    )
    cfg = config.load(path)
    assert cfg.supervisor.interval == 5.0
    assert cfg.supervisor.job_types == ("analysis",)
    assert cfg.limits.memory_mb == 512
    # a job type inherits [limits] and overrides what it names
    assert cfg.job_types["big"].limits.memory_mb == 4096
    assert cfg.job_types["big"].limits.time_limit == 60
    assert cfg.job_types["analysis"].limits.memory_mb == 512


@pytest.mark.unit
def test_precedence_flag_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[database]\nurl = "postgresql://file/db"\n[supervisor]\ninterval = 7\n')
    assert config.load(path).database.url == "postgresql://file/db"
    monkeypatch.setenv("POSTGRES_URL", "postgresql://postgres-url/db")
    assert config.load(path).database.url == "postgresql://postgres-url/db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://database-url/db")
    assert config.load(path).database.url == "postgresql://database-url/db"
    assert config.load(path).supervisor.interval == 7
    assert config.load(path, {"supervisor.interval": 2}).supervisor.interval == 2


@pytest.mark.unit
def test_jobsup_home_sets_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBSUP_HOME", str(tmp_path / "state"))
    assert config.load(None).state_dir == tmp_path / "state"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[limits]\nmemory_mbb = 5\n",
            "[limits] unknown key 'memory_mbb' (did you mean 'memory_mb'?)",
        ),
        ("[limit]\nmemory_mb = 5\n", "unknown section [limit] (did you mean 'limits'?)"),
        ("[limits]\nmemory_mb = -1\n", "[limits] memory_mb: must not be negative, got -1"),
        ('[limits]\nmemory_mb = "1G"\n', "[limits] memory_mb: expected an integer, got str '1G'"),
        ("[supervisor]\nlisten = 1\n", "[supervisor] listen: expected true or false, got int 1"),
        ('[limits]\nmemory_metric = "vms"\n', "memory_metric: expected one of rss, pss, uss"),
        (
            '[job_types.x]\nhandler = "nocolon"\n',
            '[job_types.x] handler: expected "module:function"',
        ),
        ('[job_types.x]\nhandler = "a:b"\ntime_limt = 3\n', "did you mean 'time_limit'?"),
        ("[supervisor\n", "invalid TOML"),
        ("supervisor = 3\n", "[supervisor] must be a table"),
    ],
)
def test_mistakes_name_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    assert message in refused(tmp_path, text)


def refused(tmp_path: Path, text: str) -> str:
    """The one line `config.load` refuses `text` with, after the file's name."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[supervisor]\ninterval = 0\n", "[supervisor] interval: must be at least 0.01, got 0"),
        ("[supervisor]\nheartbeat_interval = 0\n", "[supervisor] heartbeat_interval: must be"),
        ("[supervisor]\nresult_max_kb = 0\n", "[supervisor] result_max_kb: must be at least 1"),
        ("[limits]\ncheck_interval = 0\n", "[limits] check_interval: must be at least 0.01"),
        (
            '[job_types.x]\nhandler = "a:b"\ncheck_interval = 0.001\n',
            "[job_types.x] check_interval: must be at least 0.01, got 0.001",
        ),
        (
            "[limits]\nsoft_time_limit = 60\ntime_limit = 30\n",
            "[limits] soft_time_limit (60) must be below time_limit (30)",
        ),
        (
            '[limits]\nsoft_time_limit = 60\n[job_types.x]\nhandler = "a:b"\ntime_limit = 60\n',
            "[job_types.x] soft_time_limit (60) must be below time_limit (60)",
        ),
        (
            "[supervisor]\nheartbeat_interval = 5\nstale_after = 9\n",
            "[supervisor] stale_after (9) must be at least twice heartbeat_interval (5)",
        ),
        (
            '[supervisor]\njob_types = ["anaylsis"]\n',
            "[supervisor] job_types: no job type 'anaylsis' is configured (did you mean "
            "'analysis'?)",
        ),
        ('[logging]\nrotation = "banana"\n', "[logging] rotation: expected a size"),
        (
            "[supervisor]\nlease_timeout = 60\n",
            "[supervisor] lease_timeout (60) must be below stale_after (60)",
        ),
    ],
)
def test_values_that_would_break_the_loop_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    assert message in refused(tmp_path, text)


@pytest.mark.unit
def test_limits_that_are_off_break_no_rule(tmp_path: Path) -> None:
    text = "[limits]\nsoft_time_limit = 60\ntime_limit = 0\n[supervisor]\nstale_after = 10\n"
    cfg = config.load(write(tmp_path, text))  # no time limit: any soft one is below it
    assert (cfg.limits.soft_time_limit, cfg.supervisor.stale_after) == (60, 10)
    assert config.load(None, {"supervisor.interval": 0.01}).supervisor.interval == 0.01


@pytest.mark.unit
def test_a_flag_is_checked_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[supervisor]\nheartbeat_interval = 5\n")
    with pytest.raises(ConfigError, match="stale_after"):
        config.load(path, {"supervisor.stale_after": 6})


def test_the_start_command_refuses_a_bad_value_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, '[logging]\nrotation = "banana"\nfile = "x.log"\n')
    result = jobsup("start", "-c", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f'jobsup: {path}: [logging] rotation: expected a size ("100 MB"), an interval '
        f'("1 day"), a time ("00:00") or a weekday ("sunday"), got \'banana\''
    ]


@pytest.mark.unit
def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.load(tmp_path)  # a directory


@pytest.mark.parametrize(
    "text",
    ["[limits]\nmemory_mbb = 5\n", "[limits\n", "[retry]\nmax_retries = -3\n"],
)
def test_cli_exits_2_with_one_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    result = jobsup("db", "check", "-c", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"jobsup: {path}: ")
    assert "Traceback" not in result.stderr


def test_cli_reads_config_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nmemory_mbb = 5\n")
    result = jobsup("db", "check", env={"JOBSUP_CONFIG": str(path)})
    assert result.returncode == 2
    assert "memory_mbb" in result.stderr


@pytest.mark.unit
def test_example_configs_are_valid_and_complete() -> None:
    root = Path(__file__).parent.parent.parent / "conf"
    for name in ("dev.toml", "prod.toml"):
        cfg = config.load(root / name)
        assert cfg.path == root / name
    # prod.toml shows every key of every section with its default
    prod = config.read_toml(root / "prod.toml")
    for section, cls in config.SECTIONS.items():
        keys = {f.name for f in dataclasses.fields(cls)}
        assert set(prod[section]) == keys, section


def test_a_reload_with_a_value_that_breaks_the_loop_keeps_the_old_config(
    db_url: str, conn: Connection, tmp_path: Path, supervisors: Supervisors
) -> None:
    config_path = write_config(tmp_path, concurrency=2)
    sup = supervisors.start(db_url, config_path)
    sup.wait_registered(conn)
    good = config_path.read_text()
    broken = {
        "stale_after = 3.0": "stale_after (0.6) must be at least twice heartbeat_interval (0.5)",
        "interval = 30.0": "[supervisor] interval: must be at least 0.01, got 0",
    }
    for line, message in broken.items():
        bad = line.replace("3.0", "0.6").replace("30.0", "0")
        config_path.write_text(
            good.replace("concurrency = 2", "concurrency = 3").replace(line, bad)
        )
        sup.signal(signal.SIGHUP)
        wait_for(lambda message=message: message in sup.log())
    assert sup.log().count("keeping the running configuration") == 2
    slots = "SELECT slots FROM jobsup_workers WHERE pid = %s"
    beat = "SELECT heartbeat_at FROM jobsup_workers WHERE pid = %s"
    before = scalar(conn, beat, sup.pid)
    wait_for(lambda: scalar(conn, beat, sup.pid) > before)  # a heartbeat after the reloads
    assert scalar(conn, slots, sup.pid) == 2
    config_path.write_text(good.replace("concurrency = 2", "concurrency = 3"))
    sup.signal(signal.SIGHUP)
    wait_for(lambda: scalar(conn, slots, sup.pid) == 3)
    job_id = add_job(conn, "noop")
    wait_for(lambda: status(conn, job_id) == "completed")
    sup.signal(signal.SIGTERM)
    assert sup.wait() == 0


BAD_VALUES = [
    (
        '[job_types.x]\nhandler = "runner.diag:nosuchfn"\n',
        "[job_types.x] handler 'runner.diag:nosuchfn': module 'runner.diag' defines no 'nosuchfn'",
    ),
    (
        '[job_types.x]\nhandler = "shop_jobs:sned"\n',
        "[job_types.x] handler 'shop_jobs:sned': module 'shop_jobs' defines no 'sned' "
        "(did you mean 'shop_jobs:send'?)",
    ),
    (
        "[supervisor]\nconcurrency = 100000\n",
        "[supervisor] concurrency: must be at most 10000, got 100000 (each slot is a process; "
        "use several supervisors)",
    ),
    ("[limits]\ntime_limit = 1e400\n", "[limits] time_limit: expected a finite number, got inf"),
    (
        '[job_types.x]\nhandler = "shop_jobs:send"\ntime_limit = nan\n',
        "[job_types.x] time_limit: expected a finite number, got nan",
    ),
    (
        '[retry]\nretry_on = ["NoSuchError"]\n',
        "[retry] retry_on: 'NoSuchError' is neither a built-in exception nor named in any "
        "handler module (runner.insights, runner.report): give the class name the handler "
        "raises (a base class matches its subclasses)",
    ),
    (
        '[job_types.x]\nhandler = "shop_jobs:send"\nretry_on = ["TimeoutErorr"]\n',
        "[job_types.x] retry_on: 'TimeoutErorr' is neither a built-in exception nor named in "
        "any handler module (runner.insights, runner.report, shop_jobs) (did you mean "
        "'TimeoutError'?)",
    ),
    (
        '[ai]\nbase_url = "not a url"\n',
        "[ai] base_url: expected an http(s) URL such as https://api.openai.com/v1, got "
        "'not a url' (or leave it empty)",
    ),
]
SHOP_JOBS = """
import socket


class PaymentDeclined(Exception):
    pass


def send(job):
    raise PaymentDeclined(job.id)
"""


@pytest.mark.parametrize(("toml", "message"), BAD_VALUES, ids=[m[:40] for _, m in BAD_VALUES])
def test_values_that_cannot_work_are_refused_at_start_in_one_line(
    tmp_path: Path, toml: str, message: str
) -> None:
    """Accepted before (issue 29): a handler its module does not define, a concurrency no host
    runs, an infinite time limit, a retry_on name no handler raises, a base_url that is no URL."""
    (tmp_path / "shop_jobs.py").write_text(SHOP_JOBS)
    path = write(tmp_path, "[runner]\nallow_root = true\n" + toml)
    result = jobsup("start", "-c", str(path), env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"jobsup: {path}: {message}"), lines


@pytest.mark.unit
def test_a_handlers_own_exception_and_a_builtin_one_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supervisor.runners import handler_modules

    (tmp_path / "shop_jobs.py").write_text(SHOP_JOBS)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(
        tmp_path,
        '[runner]\nallow_root = true\n[retry]\nretry_on = ["PaymentDeclined", "OSError"]\n'
        '[job_types.x]\nhandler = "shop_jobs:send"\nretry_on = ["TimeoutError"]\n',
    )
    handler_modules.check(config.load(path))  # no error
    (tmp_path / "star.py").write_text("from shop_jobs import *\n")
    starred = write(tmp_path, '[runner]\nallow_root = true\n[job_types.y]\nhandler = "star:send"\n')
    handler_modules.check(config.load(starred))  # `import *`: cannot tell, accepted


@pytest.mark.unit
@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_shipped_configs_list_every_key(name: str) -> None:
    """conf/dev.toml and conf/prod.toml say they hold every key: each section's keys are
    the configuration's (dev.toml lacked lease_timeout, preload, retry_on, [web], …)."""
    import tomllib

    from supervisor.config.model import SECTIONS

    path = Path(__file__).parents[2] / "conf" / f"{name}.toml"
    data = tomllib.loads(path.read_text())
    for section, cls in SECTIONS.items():
        keys = {f.name for f in dataclasses.fields(cls)}
        assert set(data.get(section, {})) == keys, (name, section)
    config.load(path)


@pytest.mark.unit
def test_prod_toml_holds_the_defaults() -> None:
    """conf/prod.toml: "every key, with its default"."""
    from supervisor.config.model import SECTIONS

    shipped = config.load(Path(__file__).parents[2] / "conf" / "prod.toml")
    defaults = config.load(None)
    for section in SECTIONS:
        assert getattr(shipped, section) == getattr(defaults, section), section
