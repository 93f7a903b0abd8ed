"""The dashboard over plain HTTP: routes, refusals, escaping, secrets, the listen check, and
the dashboard as a child of `jobsup start`."""

from __future__ import annotations

import html
import re
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
from tests.web.dashboard import (
    TOKEN,
    Answer,
    Dashboard,
    Dashboards,
    csrf_pair,
    free_port,
    insert_job,
)

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


def test_every_link_of_the_overview_answers_even_for_a_status_outside_the_seeds(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    queued = insert_job(conn, job_type="diag.noop", status="queued")  # written by another tool
    odd = insert_job(conn, job_type="odd type&x=1", status="on hold & waiting")
    insert_job(conn, job_type="diag.noop", status="failed")
    web = dashboards.start(db_url, tmp_path)
    links = {html.unescape(h) for h in re.findall(r'href="(/jobs\?[^"]+)"', web.get("/").body)}
    assert "/jobs?status=queued" in links and "/jobs?status=on%20hold%20%26%20waiting" in links
    assert "/jobs?type=odd%20type%26x%3D1" in links
    for link in links:
        answer = web.get(link)
        assert answer.status == 200, (link, answer.body[-500:])
    assert queued in web.get("/jobs?status=queued").body
    listed = web.get("/jobs?status=on%20hold%20%26%20waiting").body
    assert odd in listed and queued not in listed
    assert odd in web.get("/jobs?type=odd%20type%26x%3D1").body
    assert web.get("/jobs?status=bogus").status == 400  # a status no job has is still a typo


def test_a_job_with_a_description_of_megabytes_has_a_small_page_and_a_link_to_it_all(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    start = "Quarterly revenue <script>alert(1)</script> by region. "
    description = start + "".join(f"line {n:07d} of the brief\n" for n in range(200_000))
    assert len(description) > 5_000_000
    job_id = insert_job(conn, job_type="analysis", status="pending",
                        business_description=description, metadata={"notes": "x" * 100_000})  # fmt: skip
    web = dashboards.start(db_url, tmp_path)
    page = web.get(f"/jobs/{job_id}")
    assert page.status == 200
    assert len(page.body) < 40_000, len(page.body)  # was the whole description: 5.6 MB
    shown = html.escape(description[:300], quote=False)
    assert shown in page.body and html.escape(description[:301], quote=False) not in page.body
    assert f"({len(description):,} characters: " in page.body
    assert f'<a href="/jobs/{job_id}/description">the whole description</a>' in page.body
    assert "(100,013 characters: <code>jobsup jobs show --details</code>" in page.body
    whole = web.get(f"/jobs/{job_id}/description")
    assert whole.status == 200 and whole.body == description
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert whole.headers["x-content-type-options"] == "nosniff"  # never sniffed as HTML
    assert "default-src 'self'" in whole.headers["content-security-policy"]
    assert web.get(f"/jobs/{job_id[:8]}/description").body == description  # a prefix too
    missing = "00000000-0000-0000-0000-000000000000"
    assert web.get(f"/jobs/{missing}/description").status == 404
    assert web.request("POST", f"/jobs/{job_id}/description", {}).status in (403, 404)


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
    done = web.request("POST", f"/jobs/{job_id}/retry", {"csrf": field}, cookies, follow=False)
    assert status(conn, job_id) == "pending"
    answer = _after_redirect(web, done, cookies, job_id)
    assert f"retried {job_id} (was failed)" in answer.body
    done = web.request("POST", f"/jobs/{job_id}/retry", {"csrf": field}, cookies, follow=False)
    answer = _after_redirect(web, done, cookies, job_id)
    assert f"not retried {job_id}: it is pending" in answer.body


def _after_redirect(web: Dashboard, done: Answer, cookies: dict[str, str], job_id: str) -> Answer:
    """The job's page an action redirected to (303, POST/redirect/GET), with the action's line
    from the notice cookie: shown once, then deleted; a forged notice shows nothing."""
    assert done.status == 303 and done.headers["location"] == f"/jobs/{job_id}", done
    header = done.headers.get("set-cookie", "")
    assert f"Path=/jobs/{job_id}" in header and "HttpOnly" in header, header
    notice = header.split("jobsup_notice=", 1)[1].split(";", 1)[0]
    answer = web.request("GET", f"/jobs/{job_id}", cookies=cookies | {"jobsup_notice": notice})
    assert answer.status == 200 and 'class="notice"' in answer.body
    assert 'jobsup_notice=""' in answer.headers.get("set-cookie", "")  # deleted once shown
    assert 'class="notice"' not in web.request("GET", f"/jobs/{job_id}", cookies=cookies).body
    forged = cookies | {"jobsup_notice": "aGFja2Vk.0000"}  # "hacked", unsigned
    assert 'class="notice"' not in web.request("GET", f"/jobs/{job_id}", cookies=forged).body
    return answer


def test_a_cancel_from_the_dashboard_is_recorded_as_one(
    db_url: str, conn: Connection, tmp_path: Path, dashboards: Dashboards
) -> None:
    job_id = insert_job(conn, job_type="diag.noop", status="pending")
    web = dashboards.start(db_url, tmp_path, token=TOKEN)
    cookie, field = csrf_pair(web.get("/login"))
    cookies = {"jobsup_csrf": cookie, "jobsup_session": _sign_in(web, cookie, field)}
    done = web.request("POST", f"/jobs/{job_id}/cancel", {"csrf": field}, cookies, follow=False)
    assert f"cancelled {job_id} (was pending)" in _after_redirect(web, done, cookies, job_id).body
    with conn.cursor() as cur:
        cur.execute("SELECT status, error_message FROM processing_jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
    assert row is not None
    assert row == ("cancelled",
                   f"cancelled from the dashboard (jobsup web on {socket.gethostname()}, "
                   "by 127.0.0.1)")  # fmt: skip


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


def test_a_short_token_beyond_loopback_is_refused_in_one_line(db_url: str) -> None:
    done = jobsup("web", "--listen", "0.0.0.0:0",
                  env={"DATABASE_URL": db_url, "JOBSUP_WEB_TOKEN": "abc"}, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "jobsup: [web] listen 0.0.0.0:0: $JOBSUP_WEB_TOKEN is 3 characters, too short to guard "
        "a non-loopback address: use at least 16 (`openssl rand -hex 16` makes 32), or listen "
        "on 127.0.0.1"
    ]


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
