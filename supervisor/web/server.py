"""`jobsup web`: the dashboard under uvicorn, on a socket bound before it starts (so a busy
port is one line, not a traceback), its log lines through loguru."""

from __future__ import annotations

import dataclasses
import logging
import socket

import setproctitle
import uvicorn
from loguru import logger

from supervisor import logs
from supervisor.config import Config
from supervisor.db import schema
from supervisor.db.connect import close_quietly, connect
from supervisor.errors import DatabaseError, JobsupError
from supervisor.listen import check_listen
from supervisor.ops.embedded import in_use_url
from supervisor.web.app import create_app
from supervisor.web.connections import APPLICATION_NAME, Connections
from supervisor.web.security import Guard

SHUTDOWN_SECONDS = 5  # open keep-alive connections do not hold up a stop for longer


def serve(cfg: Config, listen: str, log_level: str | None = None) -> None:
    """Serve the dashboard on `listen` until SIGTERM or SIGINT."""
    guard = Guard.from_environment(cfg.web)
    host, port = check_listen(listen, cfg.web, guard.token)
    # The supervisor's log file is the supervisor's: two processes must not rotate one file.
    logs.configure(dataclasses.replace(cfg.logging, file=""), cfg.state_dir, log_level)
    _route_logging(log_level or cfg.logging.level)
    sock = _bind(host, port, listen)
    url = in_use_url(cfg)
    _check_schema(cfg, url)
    setproctitle.setproctitle(f"jobsup: web {listen}")
    mode = (f"read-only: ${cfg.web.token_env} is unset" if guard.read_only
            else f"actions with the operator token in ${cfg.web.token_env}")  # fmt: skip
    logger.info("dashboard on http://{}/ ({})", listen, mode)
    app = create_app(cfg, guard, Connections(cfg, url))
    config = uvicorn.Config(app, log_config=None, server_header=False,
                            timeout_graceful_shutdown=SHUTDOWN_SECONDS)  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def _bind(host: str, port: int, listen: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=64)
    except OSError as e:
        raise JobsupError(f"[web] listen {listen}: {e.strerror or e}") from None


def _check_schema(cfg: Config, url: str) -> None:
    """Refuse a database whose schema is not current; serve 503s while it is unreachable."""
    try:
        conn = connect(url, connect_timeout=cfg.database.connect_timeout,
                       application_name=APPLICATION_NAME, pooler=cfg.database.pooler)  # fmt: skip
    except DatabaseError as e:
        logger.warning("{}: pages answer 503 until it is reachable", e)
        return
    try:
        schema.require_current(conn)
    finally:
        close_quietly(conn)


class _ToLoguru(logging.Handler):
    """uvicorn's standard-library log records, as loguru lines; requests at DEBUG."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "DEBUG" if record.name == "uvicorn.access" else record.levelname
        logger.opt(exception=record.exc_info).log(level, "{}", record.getMessage())


def _route_logging(level: str) -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        log = logging.getLogger(name)
        log.handlers = [_ToLoguru()]
        log.propagate = False
        log.setLevel(logging.DEBUG if level in ("TRACE", "DEBUG") else logging.INFO)
