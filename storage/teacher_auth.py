"""The teacher password: a constant-time login that hands out signed, expiring `TeacherAccess`.

Only the password's digest is kept. A token is an HMAC of its expiry under a secret drawn per
store, so it cannot be extended by hand nor used with another store. Wrong passwords are
counted per client address (`storage.login_throttle`): guessing from one address slows that
address down, and nobody is ever locked out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.errors import TeacherAccessError
from storage.login_throttle import GuessThrottle
from storage.models import utcnow

log = logging.getLogger("storage")


@dataclass(frozen=True)
class TeacherAccess:
    """Proof of a successful `teacher_login`, valid until `expires_at`, for that store only."""

    expires_at: datetime
    proof: bytes = field(repr=False)


class TeacherAuth:
    """One store's teacher password (or its absence: then there is no teacher view)."""

    def __init__(self, password: str | None, ttl: timedelta) -> None:
        self._digest = hashlib.sha256(password.encode("utf-8")).digest() if password else None
        self._secret = secrets.token_bytes(32)
        self._ttl = ttl
        self.throttle = GuessThrottle()  # per-address waits; the caller waits `throttle.reserve(address)`

    @property
    def enabled(self) -> bool:
        """Whether the operator set a teacher password."""
        return self._digest is not None

    def login(self, password: str, address: str = "") -> TeacherAccess:
        """Check the password in constant time; raise `TeacherAccessError` if it is wrong.

        `address` is the client's, for counting its wrong passwords; a caller that serves
        untrusted clients first waits `throttle.reserve(address)` seconds (see `ui.teacher_gate`).
        """
        if self._digest is None:
            raise TeacherAccessError(
                "The teacher view is off: the operator has not set a teacher password "
                "(MATHAPP_TEACHER_PASSWORD or --teacher-password)."
            )
        given = password.encode("utf-8") if isinstance(password, str) else b""
        # Compare digests, not the texts: equal lengths, so the time taken reveals nothing.
        if not hmac.compare_digest(hashlib.sha256(given).digest(), self._digest):
            self.throttle.failed(address)
            log.warning("Teacher view: a wrong password was given (from %s).", address or "an unnamed client")
            raise TeacherAccessError("Wrong teacher password.")
        self.throttle.succeeded(address)
        expires_at = utcnow() + self._ttl
        return TeacherAccess(expires_at=expires_at, proof=self._proof(expires_at))

    def check(self, access: object) -> None:
        """Raise `TeacherAccessError` unless `access` came from this store's login and is unexpired."""
        if self._digest is None:
            raise TeacherAccessError("The teacher view is off: no teacher password is set.")
        if not isinstance(access, TeacherAccess) or not isinstance(access.proof, bytes):
            raise TeacherAccessError("The teacher view needs the teacher password.")
        if not hmac.compare_digest(access.proof, self._proof(access.expires_at)):
            raise TeacherAccessError("The teacher view needs the teacher password.")
        if utcnow() >= access.expires_at:
            raise TeacherAccessError("The teacher login has expired; give the password again.")

    def _proof(self, expires_at: datetime) -> bytes:
        return hmac.new(self._secret, expires_at.isoformat().encode("ascii"), hashlib.sha256).digest()
