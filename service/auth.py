"""API keys and roles, and the per-key rate limiter.

Keys are random 256-bit tokens shown once; only their SHA-256 is stored (a slow password hash
buys nothing for keys with this much entropy, and scoring must stay fast). Roles are ordered:
``scorer`` < ``moderator`` < ``admin``; an endpoint names the least role it needs.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import ApiKey, utcnow

ROLES = ("scorer", "moderator", "admin")
KEY_PREFIX = "civ_"


class KeyRequestError(ValueError):
    """Bad arguments when creating or revoking a key."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (None in development mode), name and role."""

    key_id: int | None
    name: str
    role: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


DEVELOPMENT = Principal(key_id=None, name="development mode (no keys)", role="admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, role: str, name: str = "") -> tuple[ApiKey, str]:
    """Store a new key for ``role`` and return it with the plain key (shown once)."""
    if role not in ROLES:
        raise KeyRequestError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name or role, role=role, key_hash=hash_key(key), prefix=key[:10])
    session.add(row)
    session.commit()
    return row, key


def revoke_key(session: Session, key_id: int) -> bool:
    """Revoke key ``key_id``; False when there is no such active key."""
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()
    return result.rowcount == 1


def authenticate(session: Session, key: str) -> Principal | None:
    """The principal of an active ``key``, or None."""
    row = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
    )
    return None if row is None else Principal(key_id=row.id, name=row.name, role=row.role)


class RateLimiter:
    """Token buckets per key: ``per_minute`` sustained, ``burst`` at once (0 = unlimited)."""

    def __init__(self, *, per_minute: int, burst: int, clock=time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, who: object) -> float:
        """Take one token for ``who``: 0.0 when allowed, else the seconds until one is free."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(who, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))
