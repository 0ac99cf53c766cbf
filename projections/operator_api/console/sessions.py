"""Console sessions: a signed, expiring cookie naming the operator, and the CSRF token bound to it.

Signed with ``itsdangerous`` under a key derived from the operator API's token, so no second production
secret is needed (rotating the token ends every session). The account is read again on every request, so
a disabled operator's session stops working at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "conectapro_console"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    operator: str
    #: Random per login: the CSRF token is bound to it, so a token from another session is refused.
    session_id: str


class ConsoleSessions:
    def __init__(self, api_token: str, *, max_age: timedelta) -> None:
        key = hmac.new(api_token.encode(), b"conectapro-console-sessions", hashlib.sha256).digest()
        self._cookies = URLSafeTimedSerializer(key, salt="console-session")
        self._csrf = URLSafeTimedSerializer(key, salt="console-csrf")
        self.max_age = max_age

    def issue(self, operator: str) -> str:
        """The cookie value of a new session."""
        return self._cookies.dumps({"op": operator, "sid": secrets.token_urlsafe(16)})

    def read(self, cookie: str | None) -> ConsoleSession | None:
        """The session of a cookie that is ours and not expired; None for anything else."""
        if not cookie:
            return None
        try:
            data = self._cookies.loads(cookie, max_age=int(self.max_age.total_seconds()))
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("op"), str) or not isinstance(data.get("sid"), str):
            return None
        return ConsoleSession(operator=data["op"], session_id=data["sid"])

    def csrf_token(self, session: ConsoleSession) -> str:
        return self._csrf.dumps(session.session_id)

    def csrf_valid(self, session: ConsoleSession, token: str | None) -> bool:
        if not token:
            return False
        try:
            session_id = self._csrf.loads(token, max_age=int(self.max_age.total_seconds()))
        except BadSignature:
            return False
        return isinstance(session_id, str) and hmac.compare_digest(session_id, session.session_id)
