"""Which addresses the dashboard may listen on: any loopback address freely, any other only
with an operator token long enough not to be guessed. A leaf, so that `jobsup start` (the
loop) refuses a bad `[web] listen` before it starts the dashboard without importing it.
"""

from __future__ import annotations

import ipaddress

from supervisor.config import WebConfig
from supervisor.errors import ConfigError
from supervisor.metrics import parse_listen

# Beyond loopback anyone who reaches the port may guess: 16 characters of `openssl rand -hex`
# are 64 bits, out of reach of guesses over HTTP.
MIN_TOKEN_CHARS = 16


def check_listen(listen: str, web: WebConfig, token: str | None) -> tuple[str, int]:
    """(host, port) of `listen`; ConfigError for a non-loopback address without a token, or
    with one shorter than MIN_TOKEN_CHARS."""
    host, port = parse_listen(listen, "[web] listen", example="127.0.0.1:8080")
    if is_loopback(host):
        return host, port
    if token is None:
        raise ConfigError(
            f"[web] listen {listen}: not a loopback address and ${web.token_env} is unset: "
            f"set an operator token in it, or listen on 127.0.0.1"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"[web] listen {listen}: ${web.token_env} is {len(token)} characters, too short to "
            f"guard a non-loopback address: use at least {MIN_TOKEN_CHARS} "
            f"(`openssl rand -hex 16` makes 32), or listen on 127.0.0.1"
        )
    return host, port


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1; False for every other name or address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
