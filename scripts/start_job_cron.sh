#!/usr/bin/env bash
# The original job-cron's modes, on jobsup. Extra arguments (--interval N, --max-jobs N,
# --concurrency N, ...) go to `jobsup start`.
#
#   scripts/start_job_cron.sh dev    [ARGS]  foreground, DEBUG logs, conf/dev.toml
#   scripts/start_job_cron.sh bg     [ARGS]  in the background (jobsup start --daemon);
#                                            log in <state_dir>/jobsup.log
#   scripts/start_job_cron.sh status         running? and the queue (exit 3: not running)
#   scripts/start_job_cron.sh stop   [--now] graceful drain, then exit
#   scripts/start_job_cron.sh prod   [ARGS]  install and start the systemd unit (as root)
#   scripts/start_job_cron.sh docker [ARGS]  foreground in a container: migrate, then start
#
# bg, status, stop and docker use $JOBSUP_CONFIG (default conf/prod.toml); prod installs
# conf/prod.toml as /etc/jobsup/prod.toml unless that exists. DATABASE_URL (or POSTGRES_URL)
# names the database; without one jobsup runs an embedded PostgreSQL in the state directory.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
    exit 2
}

# jobsup on PATH (a container, an activated venv), else the project's .venv (made once).
use_venv() {
    # shellcheck source=scripts/venv.sh
    command -v jobsup >/dev/null || . scripts/venv.sh
}

config="${JOBSUP_CONFIG:-conf/prod.toml}"

die() {
    echo "$*" >&2
    exit 1
}

# The first directory on the way to $1 that user $2 may not enter, if any.
closed_dir() {
    local dir="" part parts
    IFS=/ read -ra parts <<<"${1#/}"
    for part in "${parts[@]}"; do
        dir="$dir/$part"
        if [ -d "$dir" ] && ! runuser -u "$2" -- test -x "$dir"; then
            echo "$dir"
            return
        fi
    done
}

# Everything prod needs, checked before anything is changed: each failure is one line
# saying what to do.
check_prod() {
    [ "$(id -u)" -eq 0 ] || die "prod: installs a systemd unit and a system user: run it as root"
    local jobsup python probe closed
    jobsup="$(command -v jobsup)"
    python="$(sed -n '1s/^#! *\([^ ]*\).*/\1/p' "$jobsup")" # its interpreter
    probe=jobsup # the service user; before it exists, any other user sees what it will
    id "$probe" >/dev/null 2>&1 || probe=nobody
    if ! runuser -u "$probe" -- "$jobsup" --version >/dev/null 2>&1; then
        closed="$(closed_dir "$jobsup" "$probe")"
        [ -n "$closed" ] || [ -z "$python" ] || closed="$(closed_dir "$(readlink -f "$python")" "$probe")"
        [ -z "$closed" ] || closed=" ($closed, on the way to it or to its Python, is closed to others)"
        die "prod: the service user cannot run $jobsup$closed: install jobsup with a Python" \
            "every user can run, e.g. /usr/bin/python3 -m venv /opt/jobsup &&" \
            "/opt/jobsup/bin/pip install $PWD, then PATH=/opt/jobsup/bin:\$PATH $0 prod"
    fi
    if ! command -v systemctl >/dev/null || [ ! -d /run/systemd/system ]; then
        die "prod: systemd is not running here (no /run/systemd/system):" \
            "use \`$0 bg\` (a daemon) or \`$0 docker\` instead"
    fi
}

install_prod() {
    check_prod
    local etc=/etc/jobsup
    install -d -m 755 "$etc"
    [ -e "$etc/prod.toml" ] || install -m 644 conf/prod.toml "$etc/prod.toml"
    if [ -n "${DATABASE_URL:-${POSTGRES_URL:-}}" ] && [ ! -e "$etc/jobsup.env" ]; then
        (umask 077 && echo "DATABASE_URL=${DATABASE_URL:-$POSTGRES_URL}" >"$etc/jobsup.env")
    fi
    id jobsup >/dev/null 2>&1 ||
        useradd --system --home-dir /var/lib/jobsup --shell /usr/sbin/nologin jobsup
    install -d -o jobsup -g jobsup -m 700 /var/lib/jobsup
    runuser -u jobsup -- env JOBSUP_HOME=/var/lib/jobsup \
        ${DATABASE_URL:+DATABASE_URL="$DATABASE_URL"} ${POSTGRES_URL:+POSTGRES_URL="$POSTGRES_URL"} \
        "$(command -v jobsup)" db init -c "$etc/prod.toml"
    jobsup install-systemd -c "$etc/prod.toml" -- "$@"
    systemctl daemon-reload
    systemctl enable --now jobsup
    systemctl status jobsup --no-pager || true
    echo "logs: journalctl -u jobsup -f"
}

mode="${1:-}"
[ $# -gt 0 ] && shift
case "$mode" in
    dev)
        use_venv
        jobsup db init -c conf/dev.toml
        exec jobsup start -c conf/dev.toml --log-level DEBUG "$@"
        ;;
    bg)
        use_venv
        jobsup db init -c "$config"
        exec jobsup start --daemon -c "$config" "$@"
        ;;
    status)
        use_venv
        exec jobsup status -c "$config" "$@"
        ;;
    stop)
        use_venv
        exec jobsup stop -c "$config" "$@"
        ;;
    prod)
        use_venv
        install_prod "$@"
        ;;
    docker)
        jobsup db init -c "$config"
        exec jobsup start -c "$config" "$@"
        ;;
    *)
        usage
        ;;
esac
