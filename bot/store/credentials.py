"""The ``credentials`` table: each user's own API key, encrypted, and its keyed
fingerprint (``secrets.py``), which links carry to say which key made them."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.base import ENSURE_USER, Queries, utc
from bot.store.db import (
    Connection,
)
from bot.store.engine import SQLITE, Row
from bot.store.models import (
    Credential,
    CredentialStatus,
)
from bot.store.secrets import FINGERPRINT_PREFIX, key_last4, legacy_fingerprint


def _credential(row: Row) -> Credential:
    return Credential(
        user_id=row["user_id"],
        key_last4=row["key_last4"],
        key_fingerprint=row["key_fingerprint"],
        status=CredentialStatus(row["status"]),
        created_at=utc(row["created_at"]),
    )


class CredentialQueries(Queries):
    """Stored keys: saved, read back in clear, invalidated; fingerprints."""

    async def verify_vault(self) -> None:
        """Raise ``EncryptionKeyError`` now if the key cannot read the stored API keys.

        Call once at start, before anything else touches the database: it only reads.
        """
        async with self._db.reading() as conn:
            token = await conn.fetchval(
                "SELECT encrypted_key FROM credentials ORDER BY user_id LIMIT 1"
            )
        if token is not None:
            self._vault.decrypt(token)

    def key_fingerprint(self, api_key: str) -> str:
        """The fingerprint stored beside a key and on its links (``KeyVault.fingerprint``)."""
        return self._vault.fingerprint(api_key)

    async def upgrade_fingerprints(self, known_keys: Sequence[str] = ()) -> int:
        """Rewrite fingerprints stored by earlier versions (unsalted SHA-256) in the keyed
        form, in one transaction; returns the rows changed. Cheap when there is nothing to do:
        call at every start, before anything looks a key up.

        An old fingerprint is recognised through the stored keys (decrypted here) and
        ``known_keys`` (the operator's); one that matches no key the bot still holds gets a
        keyed stand-in. The old values are wiped from the file too (freed space, the WAL), so
        no plain hash of any API key stays in the database.
        """
        prefix = (len(FINGERPRINT_PREFIX), FINGERPRINT_PREFIX)
        async with self._db.reading() as conn:
            stale = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM credentials "
                "WHERE substr(key_fingerprint, 1, ?) != ?) "
                "OR EXISTS (SELECT 1 FROM links WHERE substr(api_key_fingerprint, 1, ?) != ?)",
                prefix + prefix,
            )
            if not stale:
                return 0
            # SQLite only: a PostgreSQL database never held the old form (earlier versions
            # stored on SQLite alone).
            sqlite = conn.dialect == SQLITE
            if sqlite:
                secure_delete = await conn.fetchval("PRAGMA secure_delete")
                await conn.execute("PRAGMA secure_delete = ON")
        changed = 0
        try:
            async with self._db.transaction() as conn:
                renamed = {
                    legacy_fingerprint(api_key): self._vault.fingerprint(api_key)
                    for api_key in known_keys
                }
                rows = await conn.fetchall(
                    "SELECT user_id, encrypted_key, key_fingerprint FROM credentials"
                )
                for row in rows:
                    api_key = self._vault.decrypt(row["encrypted_key"])
                    new = self._vault.fingerprint(api_key)
                    renamed[legacy_fingerprint(api_key)] = new
                    if row["key_fingerprint"] != new:
                        changed += await conn.execute(
                            "UPDATE credentials SET key_fingerprint = ? WHERE user_id = ?",
                            (new, row["user_id"]),
                        )
                old_links = await conn.fetchall(
                    "SELECT DISTINCT api_key_fingerprint FROM links "
                    "WHERE substr(api_key_fingerprint, 1, ?) != ?",
                    prefix,
                )
                for row in old_links:
                    old = row["api_key_fingerprint"]
                    new = renamed.get(old) or self._vault.fingerprint_of_legacy(old)
                    changed += await conn.execute(
                        "UPDATE links SET api_key_fingerprint = ? WHERE api_key_fingerprint = ?",
                        (new, old),
                    )
        finally:
            if sqlite:
                async with self._db.reading() as conn:
                    await conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
                    # The WAL still holds the pages as they were: copy them back and empty it.
                    await conn.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    async def save_credential(
        self, user_id: int, api_key: str, *, conn: Connection | None = None
    ) -> Credential:
        """Store (or replace) the user's API key, encrypted; it starts out valid."""
        if not api_key:
            raise ValueError("the API key is empty")
        now = self._clock()
        token = self._vault.encrypt(api_key)
        async with self._writing(conn) as c:
            await c.execute(ENSURE_USER, (user_id, now, now))
            await c.execute(
                "INSERT INTO credentials "
                "(user_id, encrypted_key, key_last4, key_fingerprint, status, created_at) "
                "VALUES (?, ?, ?, ?, 'valid', ?) ON CONFLICT (user_id) DO UPDATE SET "
                "encrypted_key = excluded.encrypted_key, key_last4 = excluded.key_last4, "
                "key_fingerprint = excluded.key_fingerprint, status = 'valid', "
                "created_at = excluded.created_at",
                (user_id, token, key_last4(api_key), self._vault.fingerprint(api_key), now),
            )
            row = await c.fetchone("SELECT * FROM credentials WHERE user_id = ?", (user_id,))
        assert row is not None
        return _credential(row)

    async def get_credential(
        self, user_id: int, *, conn: Connection | None = None
    ) -> Credential | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM credentials WHERE user_id = ?", (user_id,))
        return None if row is None else _credential(row)

    async def get_api_key(self, user_id: int, *, conn: Connection | None = None) -> str | None:
        """The user's stored key in clear, whatever its status (see ``get_credential``)."""
        async with self._reading(conn) as c:
            token = await c.fetchval(
                "SELECT encrypted_key FROM credentials WHERE user_id = ?", (user_id,)
            )
        return None if token is None else self._vault.decrypt(token)

    async def api_key_for_fingerprint(
        self, fingerprint: str, *, conn: Connection | None = None
    ) -> str | None:
        """A valid stored key with this fingerprint (what the poller polls a link with)."""
        async with self._reading(conn) as c:
            token = await c.fetchval(
                "SELECT encrypted_key FROM credentials WHERE key_fingerprint = ? "
                "AND status = 'valid' ORDER BY created_at DESC LIMIT 1",
                (fingerprint,),
            )
        return None if token is None else self._vault.decrypt(token)

    async def delete_credential(self, user_id: int, *, conn: Connection | None = None) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute("DELETE FROM credentials WHERE user_id = ?", (user_id,))
        return changed > 0

    async def mark_fingerprint_invalid(
        self, fingerprint: str, *, conn: Connection | None = None
    ) -> list[int]:
        """The provider refused this key: every user holding it. Returns their ids."""
        async with self._writing(conn) as c:
            rows = await c.fetchall(
                "UPDATE credentials SET status = 'invalid' "
                "WHERE key_fingerprint = ? AND status = 'valid' RETURNING user_id",
                (fingerprint,),
            )
        return sorted(row["user_id"] for row in rows)

    async def list_valid_credentials(self, *, conn: Connection | None = None) -> list[Credential]:
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM credentials WHERE status = 'valid' ORDER BY user_id"
            )
        return [_credential(row) for row in rows]

    async def stored_api_keys(self, *, conn: Connection | None = None) -> list[str]:
        """Every stored key in clear, whatever its status: for the log redactor at start."""
        async with self._reading(conn) as c:
            rows = await c.fetchall("SELECT encrypted_key FROM credentials")
        return [self._vault.decrypt(row["encrypted_key"]) for row in rows]
