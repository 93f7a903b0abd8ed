# Sourced by the scripts: make .venv (Python 3.11+) and install jobsup into it, once.
# Usage: . scripts/venv.sh [extras]   e.g. ". scripts/venv.sh test"
# Re-installs only when pyproject.toml changed since the last install.

_extras="${1:-}"
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="$_root/.venv"

_find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "jobsup needs Python 3.11 or newer: none found on PATH (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

if [ ! -x "$_venv/bin/python" ]; then
    _python="$(_find_python)" || exit 1
    "$_python" -m venv "$_venv"
fi

_stamp="$_venv/.installed-${_extras:-base}"
if [ ! -f "$_stamp" ] || [ "$_root/pyproject.toml" -nt "$_stamp" ]; then
    "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -e "$_root${_extras:+[$_extras]}" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
    "$_venv/bin/python" -c 'import supervisor, runner' || exit 1
    touch "$_stamp"
fi
# Byte-compile jobsup once (cheap when nothing changed): with PYTHONDONTWRITEBYTECODE set,
# as on the CI machines, every `jobsup` call would otherwise compile it again (~1 s).
"$_venv/bin/python" -m compileall -q "$_root/supervisor" "$_root/runner" >/dev/null || true
export PATH="$_venv/bin:$PATH"
