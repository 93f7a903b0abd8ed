"""Who may act on jobs: the operator token, the session cookie a login with it buys, the
CSRF token of every form, and which addresses may be listened on without a token.

Which addresses may be listened on, and with what token, is `supervisor.listen` (a leaf:
`jobsup start` refuses a bad `[web] listen` with it before it starts the dashboard).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field

from supervisor.config import WebConfig

SESSION_COOKIE = "jobsup_session"
CSRF_COOKIE = "jobsup_csrf"
CSRF_FIELD = "csrf"
NOTICE_COOKIE = "jobsup_notice"  # an action's result line, read once by the page it redirects to
NOTICE_CHARS = 1000  # a cookie holds 4 KiB at most
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Guard:
    """The operator token (None: the dashboard is read-only) and this process's secret.

    A session cookie is `<expiry>.<signature>`, signed with a key derived from the secret and
    the token: it never holds the token, ends at its expiry, and changing the token or
    restarting the dashboard ends every session. A CSRF token is the signature of a random
    cookie (a signed double-submit cookie): a page from elsewhere can neither read the
    cookie nor sign one of its own.
    """

    token: str | None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @classmethod
    def from_environment(cls, web: WebConfig) -> Guard:
        return cls(os.environ.get(web.token_env) or None)

    @property
    def read_only(self) -> bool:
        return self.token is None

    def __repr__(self) -> str:  # never the token, not even in a traceback
        return f"Guard(read_only={self.read_only})"

    def token_matches(self, offered: str) -> bool:
        return self.token is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    def new_session(self, now: float | None = None) -> str:
        expiry = int((now or time.time()) + SESSION_SECONDS)
        return f"{expiry}.{self._sign(f'session {expiry}', self._session_key())}"

    def signed_in(self, cookie: str | None, now: float | None = None) -> bool:
        if self.token is None or not cookie:
            return False
        expiry, _, signature = cookie.partition(".")
        if not expiry.isdigit() or int(expiry) < (now or time.time()):
            return False
        expected = self._sign(f"session {expiry}", self._session_key())
        return hmac.compare_digest(signature, expected)

    def csrf_token(self, cookie: str) -> str:
        """The form field that goes with the CSRF cookie `cookie`."""
        return self._sign(f"csrf {cookie}", self.secret)

    def csrf_matches(self, cookie: str | None, offered: str | None) -> bool:
        if not cookie or not offered:
            return False
        return hmac.compare_digest(offered, self.csrf_token(cookie))

    def seal(self, notice: str) -> str:
        """`notice` as a cookie value only this process can have made: `<base64>.<signature>`."""
        # Unpadded: a cookie value with `=` would go out quoted.
        data = base64.urlsafe_b64encode(notice[:NOTICE_CHARS].encode()).decode().rstrip("=")
        return f"{data}.{self._sign(f'notice {data}', self.secret)}"

    def unseal(self, cookie: str | None) -> str:
        """The notice `seal` put in `cookie`; "" for none, or one this process did not seal."""
        data, _, signature = (cookie or "").partition(".")
        expected = self._sign(f"notice {data}", self.secret)
        if not data or not hmac.compare_digest(signature, expected):
            return ""
        try:
            return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""

    def _session_key(self) -> bytes:
        assert self.token is not None  # nosec B101  # narrows the type; callers check it
        return hmac.new(self.secret, self.token.encode(), hashlib.sha256).digest()

    @staticmethod
    def _sign(message: str, key: bytes) -> str:
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)
