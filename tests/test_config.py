"""Configuration: defaults, precedence, and one clear line for every kind of mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from supervisor import config
from supervisor.errors import ConfigError
from tests.conftest import jobsup


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobsup.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    cfg = config.load(None)
    assert cfg.supervisor.interval == 30
    assert cfg.retry.max_retries == 3
    assert cfg.limits.memory_metric == "rss"
    assert cfg.job_types["analysis"].handler == "runner.insights:analysis"
    assert cfg.supervisor.slots >= 1


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


def test_jobsup_home_sets_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBSUP_HOME", str(tmp_path / "state"))
    assert config.load(None).state_dir == tmp_path / "state"


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
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


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


def test_example_configs_are_valid_and_complete() -> None:
    root = Path(__file__).parent.parent / "conf"
    for name in ("dev.toml", "prod.toml"):
        cfg = config.load(root / name)
        assert cfg.path == root / name
    # prod.toml shows every key of every section with its default
    prod = config.read_toml(root / "prod.toml")
    for section, cls in config.SECTIONS.items():
        keys = {f.name for f in dataclasses.fields(cls)}
        assert set(prod[section]) == keys, section
