"""API keys and page sessions, stored hashed in the state database.

A key is `prx_` and 43 random URL-safe characters (256 bits from `secrets`). Only its
SHA-256 is stored. Why a plain hash is enough: slow hashes (bcrypt, Argon2) protect guessable
passwords; nobody can search a 256-bit random space, whatever the hash costs, and a fast
hash keeps every request's check to one indexed lookup. Sessions are random tokens too,
stored the same way, so a copy of the database opens no doors.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.auth import Principal, Role
from app.statedb import StateDB

TOKEN_PREFIX = "prx_"
"""Makes a leaked key easy to recognise (secret scanners, logs)."""
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
DEFAULT_SESSION = timedelta(hours=12)
RESERVED_NAMES = frozenset({"local", "anonymous"})
"""The single local user and callers without a key, as the audit trail names them."""


class KeyRequestError(ValueError):
    """A key that cannot be added or revoked, with the reason (shown to the user)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown of a key: never the token, never its hash."""

    name: str
    role: Role
    created_at: str
    revoked_at: str | None


class KeyStore:
    """Add, list, revoke keys; resolve a token or a session to the caller."""

    def __init__(self, db: StateDB, session_length: timedelta = DEFAULT_SESSION) -> None:
        self.db = db
        self.session_length = session_length

    def add(self, name: str, role: Role | str) -> str:
        """A new key for `name` with `role`; the token is returned here and never again."""
        if not KEY_NAME.match(name):
            raise KeyRequestError(
                f"invalid key name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit"
            )
        if name.lower() in RESERVED_NAMES:
            raise KeyRequestError(f"{name!r} names the audit trail's own actors; pick another")
        try:
            role = Role(role)
        except ValueError:
            raise KeyRequestError(
                f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}"
            ) from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.transaction() as conn:
            taken = conn.execute(
                "SELECT 1 FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)
            ).fetchone()
            if taken:
                raise KeyRequestError(f"an active key named {name!r} exists; revoke it first")
            conn.execute(
                "INSERT INTO api_keys(name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, token_hash(token), iso(utc_now())),
            )
        return token

    def list(self, include_revoked: bool = True) -> list[KeyInfo]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        rows = self.db.query(
            f"SELECT name, role, created_at, revoked_at FROM api_keys {where} ORDER BY id"
        )
        return [KeyInfo(r["name"], Role(r["role"]), r["created_at"], r["revoked_at"])
                for r in rows]  # fmt: skip

    def revoke(self, name: str) -> KeyInfo:
        """Revoke the active key called `name`; its sessions end with it."""
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, role, created_at FROM api_keys WHERE name = ? AND revoked_at IS NULL",
                (name,),
            ).fetchone()
            if row is None:
                raise KeyRequestError(f"no active key named {name!r}")
            now = iso(utc_now())
            conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now, row["id"]))
            conn.execute("DELETE FROM sessions WHERE key_id = ?", (row["id"],))
        return KeyInfo(name, Role(row["role"]), row["created_at"], now)

    def any_active(self) -> bool:
        """Whether Prexus is multi-user: any key not revoked."""
        return bool(self.db.query("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))

    def principal(self, token: str) -> Principal | None:
        """The caller a token belongs to, or None for an unknown or revoked one."""
        rows = self.db.query(
            "SELECT name, role FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL",
            (token_hash(token),),
        )
        return Principal(rows[0]["name"], Role(rows[0]["role"])) if rows else None

    def start_session(self, token: str) -> str | None:
        """A page session for the holder of key `token` (None if the key is not valid)."""
        session = secrets.token_urlsafe(32)
        now = utc_now()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash(token),),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (iso(now),))
            conn.execute(
                "INSERT INTO sessions(token_hash, key_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash(session), row["id"], iso(now), iso(now + self.session_length)),
            )
        return session

    def session_principal(self, session: str) -> Principal | None:
        rows = self.db.query(
            "SELECT k.name, k.role FROM sessions s JOIN api_keys k ON k.id = s.key_id "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL",
            (token_hash(session), iso(utc_now())),
        )
        return Principal(rows[0]["name"], Role(rows[0]["role"])) if rows else None

    def end_session(self, session: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(session),))
