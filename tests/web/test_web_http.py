"""The dashboard over plain HTTP: routes, refusals, escaping, secrets, the listen check, and
the dashboard as a child of `jobsup start`."""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

from supervisor.db.connect import Connection
from supervisor.ops import job_admin
from tests.fixtures.commands import jobsup
from tests.fixtures.processes import add_job, status, wait_for, write_config
from tests.web.dashboard import TOKEN, Dashboard, Dashboards, csrf_pair, free_port, insert_job

ROUTES = ("/", "/jobs", "/jobs?status=failed", "/supervisors", "/healthz", "/login")


def test_every_route_answers(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    job_id = insert_job(conn, job_type="diag.noop", status="completed", business_description="x")
    web = dashboards.start(db_url, tmp_path)
    for path in (*ROUTES, f"/jobs/{job_id}", f"/jobs/{job_id[:8]}"):
        answer = web.get(path)
        assert answer.status == 200, (path, answer.body[:300])
    assert web.get("/healthz").body == "ok\n"
    assert web.get("/jobs/00000000-0000-0000-0000-000000000000").status == 404
    assert web.get("/jobs/not-hex").status == 404
    assert web.get("/jobs?status=bogus").status == 400
    assert "since &#39;2x&#39;" in web.get("/jobs?since=2x").body
    assert web.get("/jobs?after=garbage").status == 400
    headers = web.get("/").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_an_ambiguous_prefix_lists_the_candidates(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    first = insert_job(conn, id="abcd0000-0000-4000-8000-000000000001", status="pending")
    second = insert_job(conn, id="abcd0001-0000-4000-8000-000000000002", status="pending")
    web = dashboards.start(db_url, tmp_path)
    answer = web.get("/jobs/abcd")
    assert answer.status == 404
    assert first in answer.body and second in answer.body
    assert f"{second}" in web.get("/jobs/ABCD0001").body  # a unique prefix, any case


def test_actions_are_post_only_and_refused_without_token_and_csrf(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    job_id = insert_job(conn, job_type="diag.noop", status="failed", error_message="boom")
    web = dashboards.start(db_url, tmp_path, token=TOKEN)
    read_only = dashboards.start(db_url, tmp_path)
    cookie, field = csrf_pair(web.get("/login"))
    for action in ("retry", "cancel", "reclaim"):
        assert web.get(f"/jobs/{job_id}/{action}").status == 405
        # no session: 401, whatever the CSRF token
        answer = web.request(
            "POST", f"/jobs/{job_id}/{action}", {"csrf": field}, {"jobsup_csrf": cookie}
        )
        assert answer.status == 401
        # no operator token configured at all: 403
        answer = read_only.request(
            "POST", f"/jobs/{job_id}/{action}", {"csrf": field}, {"jobsup_csrf": cookie}
        )
        assert answer.status == 403 and "read-only" in answer.body
    # a wrong token does not sign in
    assert (
        web.request(
            "POST", "/login", {"csrf": field, "token": "nope"}, {"jobsup_csrf": cookie}
        ).status
        == 401
    )
    # the right token without the CSRF token does not either
    assert web.request("POST", "/login", {"token": TOKEN}, {"jobsup_csrf": cookie}).status == 403
    session = _sign_in(web, cookie, field)
    cookies = {"jobsup_csrf": cookie, "jobsup_session": session}
    for bad in ({}, {"csrf": "x" * 64}, {"csrf": field + "0"}):
        assert web.request("POST", f"/jobs/{job_id}/retry", bad, cookies).status == 403
    assert status(conn, job_id) == "failed"  # nothing went through
    # a forged session cookie is no session
    forged = {"jobsup_csrf": cookie, "jobsup_session": "9999999999.deadbeef"}
    assert web.request("POST", f"/jobs/{job_id}/retry", {"csrf": field}, forged).status == 401
    answer = web.request("POST", f"/jobs/{job_id}/retry", {"csrf": field}, cookies)
    assert answer.status == 200
    assert f"retried {job_id} (was failed)" in answer.body
    assert status(conn, job_id) == "pending"
    answer = web.request("POST", f"/jobs/{job_id}/retry", {"csrf": field}, cookies)
    assert f"not retried {job_id}: it is pending" in answer.body


def _sign_in(web: Dashboard, cookie: str, field: str) -> str:
    """The session cookie a log-in sets (on its 303, which is not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    data = urllib.parse.urlencode({"csrf": field, "token": TOKEN}).encode()
    req = urllib.request.Request(web.base + "/login", data=data, method="POST")
    req.add_header("Cookie", f"jobsup_csrf={cookie}")
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(req, timeout=10)
    assert redirect.value.code == 303 and redirect.value.headers["location"] == "/"
    header = redirect.value.headers.get("set-cookie", "")
    assert "HttpOnly" in header and "SameSite=strict" in header, header
    assert TOKEN not in header
    return header.split("jobsup_session=", 1)[1].split(";", 1)[0]


def test_descriptions_are_escaped_and_secrets_never_shown(
    server_url: str, db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    job_id = insert_job(
        conn,
        job_type="<b>type</b>",
        status="failed",
        business_description=evil,
        error_message="<script>bad()</script>",
        metadata={"k": "<i>v</i>"},
    )
    # a password in the URL (the test server trusts local connections and ignores it)
    parts = urlsplit(db_url)
    netloc = parts.netloc.split("@")[-1]
    user = parts.username or "postgres"
    url_with_password = urlunsplit(parts._replace(netloc=f"{user}:Pa55w0rd-secret@{netloc}"))
    web = dashboards.start(url_with_password, tmp_path, token=TOKEN)
    for path in (*ROUTES, f"/jobs/{job_id}", "/jobs?q=script", "/jobs?type=%3Cb%3Etype%3C/b%3E"):
        body = web.get(path).body
        assert "<script>alert" not in body and "<script>bad" not in body and "<b>type" not in body
        assert "Pa55w0rd-secret" not in body and TOKEN not in body, path
    body = web.get(f"/jobs/{job_id}").body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_non_loopback_listen_without_token_is_refused(db_url: str) -> None:
    done = jobsup(
        "web",
        "--listen",
        "0.0.0.0:0",
        env={"DATABASE_URL": db_url, "JOBSUP_WEB_TOKEN": ""},
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "jobsup: [web] listen 0.0.0.0:0: not a loopback address and $JOBSUP_WEB_TOKEN is unset: set an operator token in it, or listen on 127.0.0.1"
    ]
    done = jobsup("web", "--listen", "localhost", env={"DATABASE_URL": db_url}, timeout=30)
    assert done.returncode == 2 and "expected HOST:PORT" in done.stderr


def test_a_busy_port_is_one_line(db_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = jobsup(
            "web", "--listen", f"127.0.0.1:{port}", env={"DATABASE_URL": db_url}, timeout=30
        )
    assert done.returncode == 1
    assert (
        done.stderr.strip().splitlines()[-1].startswith(f"jobsup: [web] listen 127.0.0.1:{port}: ")
    )


@pytest.mark.slow
def test_the_supervisor_runs_the_dashboard_as_a_child_and_stops_it(
    db_url: str, conn: Connection, tmp_path: Path, supervisors
) -> None:
    port = free_port()
    config = write_config(tmp_path, extra=f'[web]\nlisten = "127.0.0.1:{port}"\n')
    sup = supervisors.start(db_url, config)
    sup.wait_registered(conn)
    web = _child_titled(sup.pid, "jobsup: web")
    # runners that end make the supervisor sweep for orphans: the dashboard is not one
    for _ in range(3):
        job_id = add_job(conn, "noop")
        wait_for(lambda job_id=job_id: status(conn, job_id) == "completed")
    time.sleep(1.0)
    assert web.is_running() and web.parent().pid == sup.pid
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/supervisors", timeout=10) as answer:
        assert str(sup.pid) in answer.read().decode()
    sup.signal(signal.SIGTERM)
    assert sup.wait(30) == 0
    assert not psutil.pid_exists(web.pid) or web.status() == psutil.STATUS_ZOMBIE
    assert "dashboard started" in sup.log()


def test_a_supervisor_with_a_bad_web_listen_does_not_start(db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, extra='[web]\nlisten = "0.0.0.0:8080"\n')
    done = jobsup("start", "-c", str(config), env={"DATABASE_URL": db_url, "JOBSUP_WEB_TOKEN": ""})
    assert done.returncode == 2, done.stderr
    assert "[web] listen 0.0.0.0:8080: not a loopback address" in done.stderr


def _child_titled(pid: int, title: str) -> psutil.Process:
    def find() -> psutil.Process | None:
        for child in psutil.Process(pid).children():
            try:
                if " ".join(child.cmdline()).startswith(title):
                    return child
            except psutil.Error:
                pass
        return None

    return wait_for(find, timeout=30)


def test_the_text_filter_is_literal_and_pages_do_not_overlap(conn: Connection) -> None:
    for text in ("50% off", "500 off", "a_b", "axb", "back\\slash"):
        insert_job(conn, status="pending", business_description=text)

    def found(text: str) -> list[str]:
        return [j["description"] for j in job_admin.list_jobs(conn, job_admin.Filters(text=text))]

    assert found("50%") == ["50% off"]
    assert found("a_b") == ["a_b"]
    assert found("k\\s") == ["back\\slash"]
    assert sorted(found("OFF")) == ["50% off", "500 off"]
    first = job_admin.list_jobs(conn, job_admin.Filters(limit=2))
    last = first[-1]
    rest = job_admin.list_jobs(
        conn, job_admin.Filters(limit=10, after=(last["created_at"], last["id"]))
    )
    assert len(first) + len(rest) == 5
    assert not {j["id"] for j in first} & {j["id"] for j in rest}
