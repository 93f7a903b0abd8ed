#!/usr/bin/env bash
# The whole check: lint, format, types, bandit, then the test suite against a real PostgreSQL.
# Creates .venv with the test and eval extras on first use. Extra arguments go to pytest.
# JOBSUP_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres uses that server;
# otherwise the tests start an embedded PostgreSQL of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need: Chromium for the dashboard's browser tests (Playwright
# never downloads one), iproute2 (`ip`) and util-linux (`unshare`, `nsenter`) for
# scripts/chaos.py --netns, faketime (skewed host clocks: tests/loop/test_clocks.py,
# chaos.py --skew) and pgbouncer (tests behind PgBouncer, chaos.py --pgbouncer). Installed
# when missing and this runs as root; otherwise it stops here, naming them, rather than
# ending in failures.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
{ command -v unshare && command -v nsenter; } >/dev/null 2>&1 || missing+=(util-linux)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || missing+=(faketime)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/test.sh: the tests need these Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "== apt-get install ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. scripts/venv.sh test,eval

echo "== ruff" >&2
ruff check supervisor runner tests scripts
ruff format --check supervisor runner tests scripts
echo "== mypy" >&2
mypy
echo "== bandit" >&2
# Each finding is fixed or justified where it is (# nosec). runner/insights builds DuckDB SQL
# on the file it reads, every name and literal quoted by runner/insights/sql.py (DuckDB's
# table functions take no bind parameters), which B608 cannot see.
bandit -q -r supervisor runner -x runner/insights
bandit -q -r runner/insights -s B608
echo "== pytest" >&2
pytest "$@"
