"""The dashboard's Starlette application: fixed routes, each a page or an action.

GET  /  /jobs  /jobs/<id or prefix>  /jobs/<id>/description  /supervisors  /healthz  /login
POST /jobs/<id>/retry  /jobs/<id>/cancel  /jobs/<id>/reclaim  /login  /logout

Pages are plain functions run in Starlette's thread pool (psycopg2 blocks); an action
reads its form, is refused (401 no session, 403 read-only or a bad CSRF token) or runs the
same function as its `jobsup jobs` command and redirects to the job's page, which shows the
line it printed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

import jinja2
import psycopg2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supervisor.config import Config
from supervisor.errors import DatabaseError, describe
from supervisor.web import pages, present
from supervisor.web.actions import ACTIONS, Action
from supervisor.web.connections import Connections
from supervisor.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    NOTICE_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Guard,
    new_csrf_cookie,
)

FORM_LIMIT = 16 * 1024  # bytes: the forms here hold a token or two
NOTICE_SECONDS = 60  # an action's line waits this long for the page it redirects to
HEADERS = {
    # Inline SVG needs no exception; no inline script or style attribute anywhere.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def create_app(cfg: Config, guard: Guard, connections: Connections) -> Starlette:
    site = Site(cfg, guard, connections)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        connections.close()

    routes = [
        Route("/", site.overview),
        Route("/jobs", site.jobs),
        Route("/jobs/{ref}", site.job),
        Route("/jobs/{ref}/description", site.description),
        Route("/jobs/{ref}/{action}", site.act, methods=["POST"]),
        Route("/supervisors", site.supervisors),
        Route("/healthz", site.healthz),
        Route("/login", site.login_form),
        Route("/login", site.login, methods=["POST"]),
        Route("/logout", site.logout, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("supervisor.web", "static")]), name="static"),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: site.http_error,
        DatabaseError: site.database_error,
        psycopg2.Error: site.database_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app


class Site:
    """The pages and actions, with what they share: config, guard, connections, templates."""

    def __init__(self, cfg: Config, guard: Guard, connections: Connections) -> None:
        self.cfg = cfg
        self.guard = guard
        self.connections = connections
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("supervisor.web", "templates"),
            autoescape=True,  # every value from the database is text, never markup
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(present.FILTERS)

    # -- pages -----------------------------------------------------------------------------

    def overview(self, request: Request) -> Response:
        with self.connections.reading() as conn:
            context = pages.overview(conn, self.cfg)
        return self.render(request, "overview.html", context)

    def jobs(self, request: Request) -> Response:
        query = pages.JobQuery.from_params(request.query_params)
        try:
            with self.connections.reading() as conn:
                context = pages.jobs(conn, self.cfg, query)
        except pages.BadRequest as e:
            context = {"query": query, "jobs": [], "next": "", "statuses": pages.STATUSES,
                       "types": sorted(self.cfg.job_types), "problem": str(e)}  # fmt: skip
            return self.render(request, "jobs.html", context, 400)
        return self.render(request, "jobs.html", context)

    def job(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        with self.connections.reading() as conn:
            job_id, candidates = pages.resolve(conn, ref)
            context = pages.job(conn, job_id) if job_id else None
        if context is None:
            return self.render(request, "missing.html", {"ref": ref, "candidates": candidates},
                               404)  # fmt: skip
        notice = self.guard.unseal(request.cookies.get(NOTICE_COOKIE))
        response = self.render(request, "job.html", context | {"notice": notice})
        if NOTICE_COOKIE in request.cookies:  # shown once: a reload does not show it again
            response.delete_cookie(NOTICE_COOKIE, path=request.url.path, httponly=True,
                                   samesite="strict")  # fmt: skip
        return response

    def description(self, request: Request) -> Response:
        """The whole business description as plain text (the page shows its start)."""
        ref = request.path_params["ref"]
        with self.connections.reading() as conn:
            job_id, _ = pages.resolve(conn, ref)
            text = pages.description(conn, job_id) if job_id else None
        if text is None:
            raise HTTPException(404, f"no job {ref}, or it has no description")
        return PlainTextResponse(text, headers={"Cache-Control": "no-store"})

    def supervisors(self, request: Request) -> Response:
        with self.connections.reading() as conn:
            context = pages.supervisors(conn, self.cfg)
        return self.render(request, "supervisors.html", context)

    def healthz(self, request: Request) -> Response:
        """200 `ok` when the database answers; 503 with the reason otherwise."""
        try:
            with self.connections.reading() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        except (DatabaseError, psycopg2.Error) as e:
            return PlainTextResponse(f"database unavailable: {describe(e)}\n", 503)
        return PlainTextResponse("ok\n")

    # -- actions ---------------------------------------------------------------------------

    async def act(self, request: Request) -> Response:
        action = ACTIONS.get(request.path_params["action"])
        if action is None:
            raise HTTPException(404)
        form = await _form(request)
        refused = self._refusal(request, form, need_session=True)
        if refused is not None:
            return refused
        return await run_in_threadpool(self._act, request, action)

    def _act(self, request: Request, action: Action) -> Response:
        """The action done, then a redirect to the job's page (POST/redirect/GET: a reload
        does not post again), which shows the action's line once, from a sealed cookie."""
        with self.connections.reading() as conn:
            job_id, _ = pages.resolve(conn, request.path_params["ref"])
        if job_id is None:
            raise HTTPException(404, f"no job {request.path_params['ref']}")
        client = request.client.host if request.client else "an unknown client"
        with self.connections.writing() as conn:
            notice = action(conn, self.cfg, job_id, client)
        page = f"/jobs/{job_id}"
        response = RedirectResponse(page, 303)
        response.set_cookie(NOTICE_COOKIE, self.guard.seal(notice), max_age=NOTICE_SECONDS,
                            path=page, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")  # fmt: skip
        return response

    def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", {"problem": ""})

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        refused = self._refusal(request, form, need_session=False)
        if refused is not None:
            return refused
        if not self.guard.token_matches(form.get("token", "")):
            return self.render(request, "login.html", {"problem": "wrong token"}, 401)
        response = RedirectResponse("/", 303)
        response.set_cookie(SESSION_COOKIE, self.guard.new_session(), max_age=SESSION_SECONDS,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")  # fmt: skip
        return response

    async def logout(self, request: Request) -> Response:
        form = await _form(request)
        if not self.guard.csrf_matches(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            return self._refuse(request, 403, "CSRF token missing or wrong: reload the page")
        response = RedirectResponse("/", 303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    def _refusal(
        self, request: Request, form: dict[str, str], need_session: bool
    ) -> Response | None:
        """The answer to a POST that may not go ahead, or None when it may."""
        if self.guard.read_only:
            why = f"read-only dashboard: no operator token (${self.cfg.web.token_env} is unset)"
            return self._refuse(request, 403, why)
        if need_session and not self.guard.signed_in(request.cookies.get(SESSION_COOKIE)):
            return self._refuse(request, 401, "sign in with the operator token first")
        if not self.guard.csrf_matches(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            return self._refuse(request, 403, "CSRF token missing or wrong: reload the page "
                                "and try again")  # fmt: skip
        return None

    def _refuse(self, request: Request, status: int, why: str) -> Response:
        return self.render(request, "error.html", {"status": status, "problem": why}, status)

    # -- errors ----------------------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # nosec B101  # registered for it alone
        return self.render(request, "error.html", {"status": exc.status_code,
                           "problem": exc.detail}, exc.status_code)  # fmt: skip

    async def database_error(self, request: Request, exc: Exception) -> Response:
        why = f"database unavailable: {describe(exc)}"
        return self.render(request, "error.html", {"status": 503, "problem": why}, 503)

    # -- rendering -------------------------------------------------------------------------

    def render(self, request: Request, name: str, context: dict[str, Any], status: int = 200
               ) -> Response:  # fmt: skip
        """The page `name` with the CSRF token of this browser (its cookie set if new)."""
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        fresh = len(cookie) < 16
        if fresh:
            cookie = new_csrf_cookie()
        html = self.templates.get_template(name).render(
            path=request.url.path,
            csrf=self.guard.csrf_token(cookie),
            signed_in=self.guard.signed_in(request.cookies.get(SESSION_COOKIE)),
            read_only=self.guard.read_only,
            refresh=self.cfg.web.refresh,
            **context,
        )
        response = HTMLResponse(html, status, headers={"Cache-Control": "no-store"})
        if fresh:
            response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")  # fmt: skip
        return response


async def _form(request: Request) -> dict[str, str]:
    """The fields of a small urlencoded form (the first value of each); 413 past FORM_LIMIT."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise HTTPException(413, "form too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


class SecurityHeaders:
    """Adds HEADERS to every response (pages, static files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers.setdefault(key, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
