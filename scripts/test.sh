#!/usr/bin/env bash
# The whole check: lint, format, types, then the test suite against a real PostgreSQL.
# Creates .venv with the test extras on first use. Extra arguments go to pytest.
# JOBSUP_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres uses that server;
# otherwise the tests start an embedded PostgreSQL of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh test

echo "== ruff" >&2
ruff check supervisor runner tests scripts
ruff format --check supervisor runner tests scripts
echo "== mypy" >&2
mypy
echo "== pytest" >&2
pytest "$@"
