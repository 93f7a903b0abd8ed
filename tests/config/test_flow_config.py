"""`[job_types.<name>] rate_limit`: read into a RateLimit, or one line naming the mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor import config
from supervisor.config.flow import RateLimit, parse_rate, rate_params
from supervisor.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("60/minute", RateLimit(60, 60.0)),
        ("10/second", RateLimit(10, 1.0)),
        ("10 / seconds", RateLimit(10, 1.0)),
        ("500/hour", RateLimit(500, 3600.0)),
        ("5/h", RateLimit(5, 3600.0)),
        ("1000/Day", RateLimit(1000, 86400.0)),
    ],
)
def test_rates_read(text: str, limit: RateLimit) -> None:
    assert parse_rate(text) == limit


def test_a_rate_says_what_it_is() -> None:
    assert str(parse_rate("60/min")) == "60/minute"
    assert parse_rate("120/minute").per_second == 2.0


def test_a_job_type_rate_limit_is_read_and_given_to_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[job_types.llm]\nhandler = "runner.diag:noop"\nrate_limit = "60/minute"\n')
    cfg = config.load(path)
    assert cfg.job_types["llm"].rate_limit == RateLimit(60, 60.0)
    assert cfg.job_types["analysis"].rate_limit is None
    assert config.rates(cfg, ("llm", "analysis")) == {"llm": RateLimit(60, 60.0)}
    assert config.rates(cfg, ("analysis",)) == {}
    assert rate_params(config.rates(cfg, ("llm",))) == {
        "rate_types": ["llm"], "rate_counts": [60], "rate_periods": [60.0]}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('rate_limit = "60 per minute"',
         "[job_types.t] rate_limit: expected a count per period such as \"60/minute\""),
        ('rate_limit = "60/fortnight"', "got '60/fortnight'"),
        ('rate_limit = "0/second"', "rate_limit: the count must be from 1 to 100,000"),
        ("rate_limit = 60", "rate_limit: expected a string such as \"60/minute\""),
        ('rate_limt = "1/second"', "unknown key 'rate_limt' (did you mean 'rate_limit'?)"),
    ],
)  # fmt: skip
def test_a_bad_rate_limit_is_one_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[job_types.t]\nhandler = "runner.diag:noop"\n{line}\n')
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
