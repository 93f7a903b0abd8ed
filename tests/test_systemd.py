"""The systemd unit: conf/jobsup.service, `jobsup install-systemd`, `systemd-analyze verify`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from supervisor import systemd
from supervisor.config import SupervisorConfig
from tests.conftest import JOBSUP, jobsup

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_EXECUTABLE = "/opt/jobsup/.venv/bin/jobsup"

needs_systemd = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def verify(unit: Path, user: bool = False) -> str:
    """What `systemd-analyze verify` says about `unit` (warnings included); '' when clean."""
    runtime = unit.parent / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    result = subprocess.run(
        ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},  # a user manager needs one
    )
    return f"exit {result.returncode}: {result.stderr}{result.stdout}".removeprefix("exit 0: ")


def settings(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE))


def test_the_shipped_unit_is_the_rendered_one() -> None:
    shipped = (ROOT / "conf" / "jobsup.service").read_text()
    assert shipped == systemd.render([EXAMPLE_EXECUTABLE])


def test_the_unit_says_what_the_supervisor_needs() -> None:
    unit = settings(systemd.render([EXAMPLE_EXECUTABLE]))
    assert unit["ExecStart"] == f"{EXAMPLE_EXECUTABLE} start -c /etc/jobsup/prod.toml"
    expected = {
        "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "KillMode": "mixed",
        "OOMPolicy": "continue", "Restart": "on-failure", "StateDirectory": "jobsup",
        "Environment": "JOBSUP_HOME=%S/jobsup", "User": "jobsup",
    }  # fmt: skip
    assert {k: unit[k] for k in expected} == expected
    assert unit["Alias"] == "job_cron.service"  # the seed's `systemctl status job_cron`
    defaults = SupervisorConfig()
    assert int(unit["TimeoutStopSec"]) > defaults.drain_timeout + defaults.kill_timeout
    assert int(unit["WatchdogSec"]) > 2 * defaults.heartbeat_interval
    assert unit["MemoryMax"] and unit["WatchdogSec"]
    for breaks_forking_or_cgroups in ("MemoryDenyWriteExecute", "ProtectControlGroups"):
        assert breaks_forking_or_cgroups not in unit


@needs_systemd
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    shipped = (ROOT / "conf" / "jobsup.service").read_text()
    unit = tmp_path / "jobsup.service"
    unit.write_text(shipped.replace(EXAMPLE_EXECUTABLE, JOBSUP))  # verify wants a real binary
    assert verify(unit) == ""
    broken = tmp_path / "broken.service"  # the check can fail
    broken.write_text(unit.read_text().replace("KillMode=mixed", "KillMode=mixd"))
    assert "mixd" in verify(broken)


@needs_systemd
def test_install_systemd_writes_units_that_verify(tmp_path: Path) -> None:
    config = tmp_path / "prod.toml"
    config.write_text("")
    system = tmp_path / "system" / "jobsup.service"
    result = jobsup("install-systemd", "-c", str(config), "--output", str(system),
                    "--", "--interval", "10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {system}" in result.stdout and "systemctl enable --now jobsup" in result.stdout
    unit = settings(system.read_text())
    assert unit["ExecStart"] == f"{JOBSUP} start -c {config} --interval 10"
    assert verify(system) == ""
    user = tmp_path / "user" / "jobsup.service"
    result = jobsup("install-systemd", "--user", "-c", str(config), "--output", str(user))
    assert result.returncode == 0, result.stderr
    assert "User" not in settings(user.read_text())
    assert "WantedBy=default.target" in user.read_text()
    assert verify(user, user=True) == ""


def test_install_systemd_to_stdout_and_a_readable_refusal(tmp_path: Path) -> None:
    printed = jobsup("install-systemd", "--output", "-")
    assert printed.stdout == systemd.render([JOBSUP])
    blocked = tmp_path / "file"
    blocked.write_text("")
    refused = jobsup("install-systemd", "--output", str(blocked / "jobsup.service"))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"jobsup: cannot write {blocked / 'jobsup.service'}: ")


def test_paths_with_spaces_and_percent_signs_are_quoted() -> None:
    unit = settings(systemd.render(["/opt/my apps/jobsup"], "/etc/50%/prod.toml"))
    assert unit["ExecStart"] == '"/opt/my apps/jobsup" start -c /etc/50%%/prod.toml'
