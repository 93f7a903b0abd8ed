"""The systemd unit: conf/jobsup.service, `jobsup install-systemd`, `systemd-analyze verify`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from supervisor import config
from supervisor.config import Config, SupervisorConfig
from supervisor.ops import systemd
from tests.fixtures.commands import JOBSUP, jobsup

ROOT = Path(__file__).resolve().parent.parent.parent
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


def example_config() -> Config:
    """What conf/jobsup.service is rendered from: conf/prod.toml with 4 slots."""
    return config.load(ROOT / "conf" / "prod.toml", {"supervisor.concurrency": 4})


def test_the_shipped_unit_is_the_rendered_one() -> None:
    shipped = (ROOT / "conf" / "jobsup.service").read_text()
    rendered = systemd.render([EXAMPLE_EXECUTABLE], example_config())
    assert shipped == rendered.replace(str(ROOT / "conf" / "prod.toml"), "conf/prod.toml")


def test_the_unit_says_what_the_supervisor_needs() -> None:
    text = systemd.render([EXAMPLE_EXECUTABLE])
    unit = settings(text)
    assert unit["ExecStart"] == f"{EXAMPLE_EXECUTABLE} start -c /etc/jobsup/prod.toml"
    expected = {
        "Type": "notify", "ExecReload": "/bin/kill -HUP $MAINPID", "KillMode": "mixed",
        "OOMPolicy": "continue", "Restart": "on-failure", "StateDirectory": "jobsup",
        "User": "jobsup",
    }  # fmt: skip
    assert {k: unit[k] for k in expected} == expected
    assert unit["Alias"] == "job_cron.service"  # the seed's `systemctl status job_cron`
    assert "\nEnvironment=JOBSUP_HOME=%S/jobsup\n" in text
    defaults = SupervisorConfig()
    assert int(unit["TimeoutStopSec"]) > defaults.drain_timeout + defaults.kill_timeout
    assert int(unit["WatchdogSec"]) > 2 * defaults.heartbeat_interval
    assert unit["MemoryMax"] and unit["WatchdogSec"]
    assert "MemoryDenyWriteExecute" not in unit  # handler libraries may JIT
    hardened = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "%S/jobsup",
        "ProtectHome": "read-only", "PrivateTmp": "yes", "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
        "StateDirectoryMode": "0700", "UMask": "0027",
    }  # fmt: skip
    assert {k: unit[k] for k in hardened} == hardened


def test_the_stop_timeout_and_memory_bound_come_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(
        "[supervisor]\nconcurrency = 16\ndrain_timeout = 600\nkill_timeout = 30\n"
        "[limits]\nmemory_mb = 4096\n[job_types.analysis]\nmemory_mb = 4096\n"
    )
    text = systemd.render([EXAMPLE_EXECUTABLE], config.load(path))
    unit = settings(text)
    assert int(unit["TimeoutStopSec"]) >= 600 + 30
    assert unit["TimeoutStopSec"] == "670"  # 600 + 30 (to SIGKILL) + 30 (last results) + 10
    assert "# drain_timeout 600 s + kill_timeout 30 s" in text
    assert unit["MemoryMax"] == f"{16 * 4096 + 1024}M"
    assert "# 16 slots (concurrency) x 4096 MB" in text
    assert f"timeouts and memory bound from\n# {path}." in text
    # A job may ask for up to max_memory_mb: the bound leaves room for it.
    path.write_text("[supervisor]\nconcurrency = 2\n[limits]\nmax_memory_mb = 8192\n")
    assert settings(systemd.render(["x"], config.load(path)))["MemoryMax"] == "17408M"
    # A job type without a memory limit: no bound could be right.
    path.write_text(
        '[supervisor]\nconcurrency = 2\n[job_types.free]\nhandler = "a:b"\nmemory_mb = 0\n'
    )
    text = systemd.render(["x"], config.load(path))
    assert "MemoryMax" not in settings(text) and "job type free has no memory limit" in text


def test_install_systemd_reads_the_config_and_warns_of_a_files_root_under_tmp(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prod.toml"
    path.write_text("[supervisor]\ndrain_timeout = 300\n[files]\nroot = '/tmp/uploads'\n")
    result = jobsup("install-systemd", "-c", str(path), "--output", "-")
    assert result.returncode == 0, result.stderr
    assert settings(result.stdout)["TimeoutStopSec"] == "330"
    assert result.stderr.startswith("jobsup: warning: [files] root /tmp/uploads is under /tmp")
    assert "PrivateTmp=yes" in result.stderr


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
    assert printed.stdout == systemd.render([JOBSUP])  # no /etc/jobsup/prod.toml: the defaults
    blocked = tmp_path / "file"
    blocked.write_text("")
    refused = jobsup("install-systemd", "--output", str(blocked / "jobsup.service"))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"jobsup: cannot write {blocked / 'jobsup.service'}: ")


def test_paths_with_spaces_and_percent_signs_are_quoted() -> None:
    unit = settings(systemd.render(["/opt/my apps/jobsup"], config_path="/etc/50%/prod.toml"))
    assert unit["ExecStart"] == '"/opt/my apps/jobsup" start -c /etc/50%%/prod.toml'


def test_install_systemd_warns_of_a_config_file_that_privatetmp_hides(tmp_path: Path) -> None:
    path = tmp_path / "prod.toml"  # pytest's directories are under /tmp
    path.write_text("")
    result = jobsup("install-systemd", "-c", str(path), "--run-as", "nobody", "--output", "-")
    assert result.returncode == 0, result.stderr
    assert (
        f"jobsup: warning: the config file {path} is under /tmp, which the unit's PrivateTmp=yes "
        "replaces with an empty directory: the service would not find it (install it elsewhere, "
        "e.g. /opt)"
    ) in result.stderr.splitlines()
    assert all(line.startswith("jobsup: warning: ") for line in result.stderr.splitlines())


def test_paths_closed_to_the_service_user_are_named_by_their_first_closed_directory(
    shared_dir: Path,
) -> None:
    """As root reads the modes: `first_closed` names what a user of another uid and group
    cannot enter (a directory) or read (the file itself)."""
    (shared_dir / "a" / "b").mkdir(parents=True)
    config = shared_dir / "a" / "b" / "prod.toml"
    config.write_text("")
    stranger = (65534, {65534})
    (shared_dir / "a").chmod(0o700)
    assert systemd.first_closed(config, *stranger, os.R_OK) == shared_dir / "a"
    assert systemd.first_closed(config, 0, set(), os.R_OK) is None  # root enters anything
    (shared_dir / "a").chmod(0o750)
    owner = os.stat(shared_dir / "a")
    assert systemd.first_closed(config, 65534, {owner.st_gid}, os.R_OK) is None  # its group
    (shared_dir / "a").chmod(0o711)  # traversal without listing is enough on the way
    config.chmod(0o600)
    assert systemd.first_closed(config, *stranger, os.R_OK) == config
    config.chmod(0o644)
    assert systemd.first_closed(config, *stranger, os.R_OK) is None
    assert systemd.first_closed(shared_dir / "missing", *stranger, os.R_OK) is None
