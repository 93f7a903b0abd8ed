# jobsup in a container: PostgreSQL elsewhere (docker-compose.yml), the supervisor in the
# foreground. Runs as an unprivileged user; its state (pidfile, logs) in /var/lib/jobsup.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# psycopg2-binary, psutil, duckdb and setproctitle install from wheels: no compiler needed.
COPY pyproject.toml setup.cfg README.md ./
COPY supervisor ./supervisor
COPY runner ./runner
RUN pip install .

COPY conf ./conf
COPY scripts/start_job_cron.sh scripts/venv.sh ./scripts/
RUN chmod +x scripts/start_job_cron.sh \
    && useradd --system --create-home --home-dir /var/lib/jobsup --shell /usr/sbin/nologin jobsup

USER jobsup
# The supervisor (start_job_cron.sh docker) and `jobsup healthcheck` read the same config.
ENV JOBSUP_HOME=/var/lib/jobsup \
    JOBSUP_CONFIG=/app/conf/prod.toml
# Healthy while the supervisor of /var/lib/jobsup runs, heartbeats and reaches its database.
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 \
    CMD ["jobsup", "healthcheck"]
# SIGTERM drains: running jobs finish within drain_timeout, the rest return to pending.
# Give the container more than drain_timeout + kill_timeout to stop (compose: stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["./scripts/start_job_cron.sh", "docker", "--interval", "30"]
