"""The dashboard for the tests: `jobsup web` as a subprocess on a free port, plain HTTP
requests to it, jobs written straight into the tables, screenshots."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.db.connect import Connection
from tests.fixtures.commands import JOBSUP
from tests.fixtures.processes import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "test-operator-token-7f3a9c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]


class Dashboard:
    """`jobsup web` on 127.0.0.1:<free port>, its output in a file."""

    def __init__(self, db_url: str, directory: Path, token: str | None = None,
                 config: Path | None = None) -> None:  # fmt: skip
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / f"web-{self.port}.log"
        env = {**os.environ, "DATABASE_URL": db_url}
        env.pop("JOBSUP_WEB_TOKEN", None)
        if token:
            env["JOBSUP_WEB_TOKEN"] = token
        command = [JOBSUP, "web", "--listen", f"127.0.0.1:{self.port}"]
        if config:
            command[1:1] = ["-c", str(config)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        wait_for(self._up, timeout=30)

    def _up(self) -> bool:
        assert self.proc.poll() is None, f"jobsup web exited:\n{self.log()}"
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                cookies: dict[str, str] | None = None, follow: bool = True) -> Answer:  # fmt: skip
        """The answer to one request; with follow=False a redirect is the answer."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_Stay)
        try:
            with opener.open(req, timeout=10) as response:
                return Answer(response.status, response.read().decode(), dict(response.headers))
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.read().decode(), dict(e.headers))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class _Stay(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: urllib raises it as an HTTPError, which `request` answers."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Dashboards(list[Dashboard]):
    """The dashboards a test started (the `dashboards` fixture): stopped at teardown."""

    def start(self, db_url: str, directory: Path, **options: Any) -> Dashboard:
        dashboard = Dashboard(db_url, directory, **options)
        self.append(dashboard)
        return dashboard


def csrf_pair(answer: Answer) -> tuple[str, str]:
    """(the CSRF cookie a page set, the form token on it)."""
    cookie = re.search(r"jobsup_csrf=([^;]+)", answer.headers.get("set-cookie", ""))
    field = re.search(r'name="csrf" value="([^"]+)"', answer.body)
    assert cookie and field, answer.body[:500]
    return cookie.group(1), field.group(1)


# -- jobs written straight into the tables -------------------------------------------------


def insert_job(conn: Connection, **columns: Any) -> str:
    """A processing_jobs row with `columns` (JSON for dict and list values); its id."""
    values = {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in columns.items()}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO processing_jobs ({names}) VALUES ({marks}) RETURNING id::text",
                    list(values.values()))  # fmt: skip
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


def insert_insight(conn: Connection, job_id: str, insight_type: str, content: dict[str, Any],
                   confidence: float) -> None:  # fmt: skip
    with conn.cursor() as cur:
        cur.execute("INSERT INTO insights (job_id, insight_type, content, confidence_score) "
                    "VALUES (%s, %s, %s, %s)", (job_id, insight_type, json.dumps(content),
                                                confidence))  # fmt: skip


def insert_file(conn: Connection, path: str, name: str) -> str:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO files (id, file_path, original_name) "
                    "VALUES (gen_random_uuid(), %s, %s) RETURNING id::text", (path, name))  # fmt: skip
        row = cur.fetchone()
    assert row is not None
    return str(row[0])


def screenshot(page: Any, tmp_path: Path, name: str, full_page: bool = True,
               clip: dict[str, float] | None = None) -> Path:  # fmt: skip
    """The page as a PNG under tmp_path/screenshots; also as `web-<name>.png` in the folder
    $JOBSUP_WEB_SCREENSHOTS names, when set (`JOBSUP_WEB_SCREENSHOTS=docs` refreshes the
    README's)."""
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, clip=clip)
    assert path.stat().st_size > 10_000
    folder = os.environ.get("JOBSUP_WEB_SCREENSHOTS")
    if folder:
        shutil.copyfile(path, Path(folder) / f"web-{name}.png")
    return path


def wait_until(predicate: Any, timeout: float = 30.0) -> Any:
    return wait_for(predicate, timeout=timeout, interval=0.1)
