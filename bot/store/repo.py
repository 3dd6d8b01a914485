"""Every query of the bot, as small named methods returning typed rows.

Methods that write take an optional ``conn`` (the first argument for ``enqueue`` and
``upsert_charges``, a keyword elsewhere): given, they run inside that caller's transaction;
absent, each runs in a short transaction of its own. Read methods take ``conn`` the same way.
Money goes in as ``Decimal`` and is stored as its exact decimal string. Times are stored as
epoch seconds; aware datetimes go in and UTC datetimes come out (see ``models.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.dgs.models import Charge, Link, LinkDetails
from bot.store.db import (
    Connection,
    Database,
    conversation_key,
    conversation_key_text,
    decode_json,
    encode_json,
)
from bot.store.models import (
    ChargeChange,
    Credential,
    CredentialStatus,
    Group,
    LinkState,
    NotifyLevel,
    OutboxRow,
    OutboxState,
    PollTarget,
    StoredCharge,
    StoredLink,
    User,
)
from bot.store.secrets import (
    FINGERPRINT_PREFIX,
    KeyVault,
    key_last4,
    legacy_fingerprint,
)

MAX_ERROR_CHARS = 1000


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _utc_or_none(epoch: float | None) -> datetime | None:
    return None if epoch is None else _utc(epoch)


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("a stored time must be timezone-aware")
    return moment.timestamp()


def _money(amount: Decimal) -> str:
    if not amount.is_finite():
        raise ValueError("an amount must be a finite decimal")
    # str(Decimal) keeps sign, digits and exponent, so Decimal(text) gives the same value back.
    return str(amount)


def _user(row: sqlite3.Row) -> User:
    return User(
        user_id=row["user_id"],
        language=row["language"],
        default_currency=row["default_currency"],
        notify_level=NotifyLevel(row["notify_level"]),
        active=bool(row["active"]),
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _credential(row: sqlite3.Row) -> Credential:
    return Credential(
        user_id=row["user_id"],
        key_last4=row["key_last4"],
        key_fingerprint=row["key_fingerprint"],
        status=CredentialStatus(row["status"]),
        created_at=_utc(row["created_at"]),
    )


def _group(row: sqlite3.Row) -> Group:
    return Group(
        chat_id=row["chat_id"],
        title=row["title"],
        language=row["language"],
        active=bool(row["active"]),
        anonymous_totals=bool(row["anonymous_totals"]),
        added_by=row["added_by"],
        created_at=_utc(row["created_at"]),
    )


def _link(row: sqlite3.Row) -> StoredLink:
    snapshot = row["snapshot"]
    return StoredLink(
        link_id=row["link_id"],
        owner_user_id=row["owner_user_id"],
        api_key_fingerprint=row["api_key_fingerprint"],
        chat_id=row["chat_id"],
        group_chat_id=row["group_chat_id"],
        title=row["title"],
        slug=row["slug"],
        url=row["url"],
        currency=row["currency"],
        status=row["status"],
        snapshot=None if snapshot is None else LinkDetails.model_validate_json(snapshot),
        next_poll_at=row["next_poll_at"],
        quiet_steps=row["quiet_steps"],
        last_charge_at=_utc_or_none(row["last_charge_at"]),
        final_polled=bool(row["final_polled"]),
        muted=bool(row["muted"]),
        created_at=_utc(row["created_at"]),
        client_ref=row["client_ref"],
    )


def _charge(row: sqlite3.Row) -> StoredCharge:
    return StoredCharge(
        link_id=row["link_id"],
        charge_id=row["charge_id"],
        amount=Decimal(row["amount"]),
        currency=row["currency"],
        status=row["status"],
        payer_name=row["payer_name"],
        payment_type=row["payment_type"],
        created_at=_utc_or_none(row["created_at"]),
        first_seen_at=_utc(row["first_seen_at"]),
        status_changed_at=_utc(row["status_changed_at"]),
        pending_noted=bool(row["pending_noted"]),
    )


def _outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        chat_id=row["chat_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        payload=decode_json(row["payload"]),
        created_at=_utc(row["created_at"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        sent_at=_utc_or_none(row["sent_at"]),
        last_error=row["last_error"],
    )


_CHARGE_FIELDS = ("amount", "currency", "status", "payer_name", "payment_type", "created_at")
_KEEP_IF_MISSING = frozenset({"payer_name", "payment_type", "created_at"})

_ENSURE_USER = (
    "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id) DO NOTHING"
)


class Repo:
    """The queries. ``clock`` gives epoch seconds (tests pass a fake one)."""

    def __init__(
        self, db: Database, vault: KeyVault, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._vault = vault
        self._clock = clock

    @property
    def db(self) -> Database:
        return self._db

    @asynccontextmanager
    async def _writing(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
        else:
            async with self._db.transaction() as own:
                yield own

    @asynccontextmanager
    async def _reading(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
        else:
            async with self._db.reading() as own:
                yield own

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
            async with self._db.reading() as conn:
                await conn.execute(f"PRAGMA secure_delete = {int(secure_delete)}")
                # The WAL still holds the pages as they were: copy them back and empty it.
                await conn.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    async def links_on_key_by_owner(
        self, fingerprint: str, *, excluding: Sequence[int] = (), conn: Connection | None = None
    ) -> dict[int, int]:
        """How many links of each owner (but ``excluding``) were made with this key."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT owner_user_id, count(*) AS n FROM links WHERE api_key_fingerprint = ? "
                "AND owner_user_id NOT IN (SELECT value FROM json_each(?)) "
                "GROUP BY owner_user_id ORDER BY owner_user_id",
                (fingerprint, encode_json(list(excluding))),
            )
        return {row["owner_user_id"]: row["n"] for row in rows}

    # --- users ------------------------------------------------------------------------

    async def get_user(self, user_id: int, *, conn: Connection | None = None) -> User | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
        return None if row is None else _user(row)

    async def upsert_user_seen(self, user_id: int, *, conn: Connection | None = None) -> User:
        """The user, created if new and made active again if they had blocked the bot."""
        now = self._clock()
        async with self._writing(conn) as c:
            # The WHERE makes the common case (a known, active user) write nothing.
            await c.execute(
                "INSERT INTO users (user_id, created_at, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET active = 1, updated_at = excluded.updated_at "
                "WHERE users.active = 0",
                (user_id, now, now),
            )
            row = await c.fetchone("SELECT * FROM users WHERE user_id = ?", (user_id,))
        assert row is not None
        return _user(row)

    async def set_language(
        self, user_id: int, language: str | None, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, language, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "language = excluded.language, updated_at = excluded.updated_at",
                (user_id, language, now, now),
            )

    async def set_default_currency(
        self, user_id: int, currency: str | None, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, default_currency, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "default_currency = excluded.default_currency, "
                "updated_at = excluded.updated_at",
                (user_id, currency, now, now),
            )

    async def set_notify_level(
        self, user_id: int, level: NotifyLevel, *, conn: Connection | None = None
    ) -> None:
        now = self._clock()
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO users (user_id, notify_level, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
                "notify_level = excluded.notify_level, updated_at = excluded.updated_at",
                (user_id, NotifyLevel(level).value, now, now),
            )

    async def mark_inactive(self, user_id: int, *, conn: Connection | None = None) -> bool:
        """The user blocked the bot. False when the user is unknown."""
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE users SET active = 0, updated_at = ? WHERE user_id = ?",
                (self._clock(), user_id),
            )
        return changed > 0

    # --- credentials --------------------------------------------------------------------

    async def save_credential(
        self, user_id: int, api_key: str, *, conn: Connection | None = None
    ) -> Credential:
        """Store (or replace) the user's API key, encrypted; it starts out valid."""
        if not api_key:
            raise ValueError("the API key is empty")
        now = self._clock()
        token = self._vault.encrypt(api_key)
        async with self._writing(conn) as c:
            await c.execute(_ENSURE_USER, (user_id, now, now))
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

    async def mark_key_invalid(self, user_id: int, *, conn: Connection | None = None) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE credentials SET status = 'invalid' WHERE user_id = ?", (user_id,)
            )
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

    async def credentials_with_fingerprint(
        self, fingerprint: str, *, conn: Connection | None = None
    ) -> list[Credential]:
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM credentials WHERE key_fingerprint = ? ORDER BY user_id",
                (fingerprint,),
            )
        return [_credential(row) for row in rows]

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

    # --- links --------------------------------------------------------------------------

    async def upsert_link(
        self,
        link: Link,
        *,
        owner_user_id: int,
        api_key_fingerprint: str,
        chat_id: int | None = None,
        group_chat_id: int | None = None,
        client_ref: str | None = None,
        next_poll_at: float | None = None,
        conn: Connection | None = None,
    ) -> StoredLink:
        """Record a link the provider returned.

        A new link is polled at ``next_poll_at`` (default: now). On an existing one the
        provider's fields are refreshed; the owner, the chat it was made in and its
        ``client_ref`` keep their first value; ``group_chat_id`` changes only when given
        (the group must exist). A change of status re-arms a link that had its final poll
        and makes it due now, so a re-opened link is watched again.
        """
        now = self._clock()
        params = {
            "link_id": link.id,
            "owner": owner_user_id,
            "fingerprint": api_key_fingerprint,
            "chat_id": chat_id,
            "group_chat_id": group_chat_id,
            "title": link.title,
            "slug": link.slug,
            "url": link.url,
            "currency": link.currency,
            "status": link.status,
            "next_poll_at": next_poll_at,
            "now": now,
            "created_at": _epoch(link.created_at) if link.created_at is not None else now,
            "client_ref": client_ref,
        }
        async with self._writing(conn) as c:
            await c.execute(_ENSURE_USER, (owner_user_id, now, now))
            await c.execute(
                """
                INSERT INTO links (
                    link_id, owner_user_id, api_key_fingerprint, chat_id, group_chat_id,
                    title, slug, url, currency, status, next_poll_at, created_at, client_ref
                ) VALUES (
                    :link_id, :owner, :fingerprint, :chat_id, :group_chat_id,
                    :title, :slug, :url, :currency, :status, COALESCE(:next_poll_at, :now),
                    :created_at, :client_ref
                )
                ON CONFLICT (link_id) DO UPDATE SET
                    api_key_fingerprint = excluded.api_key_fingerprint,
                    chat_id = COALESCE(links.chat_id, excluded.chat_id),
                    group_chat_id = COALESCE(excluded.group_chat_id, links.group_chat_id),
                    title = excluded.title,
                    slug = excluded.slug,
                    url = excluded.url,
                    currency = excluded.currency,
                    status = excluded.status,
                    final_polled = CASE WHEN links.status = excluded.status
                        THEN links.final_polled ELSE 0 END,
                    next_poll_at = CASE
                        WHEN :next_poll_at IS NOT NULL THEN :next_poll_at
                        WHEN links.status != excluded.status THEN MIN(links.next_poll_at, :now)
                        ELSE links.next_poll_at END,
                    client_ref = COALESCE(links.client_ref, excluded.client_ref)
                """,
                params,
            )
            row = await c.fetchone("SELECT * FROM links WHERE link_id = ?", (link.id,))
        assert row is not None
        return _link(row)

    async def get_link(self, link_id: str, *, conn: Connection | None = None) -> StoredLink | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM links WHERE link_id = ?", (link_id,))
        return None if row is None else _link(row)

    async def links_of_user(
        self,
        user_id: int,
        *,
        limit: int | None = None,
        offset: int = 0,
        conn: Connection | None = None,
    ) -> list[StoredLink]:
        """The user's links, newest first."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM links WHERE owner_user_id = ? "
                "ORDER BY created_at DESC, link_id LIMIT ? OFFSET ?",
                (user_id, -1 if limit is None else limit, offset),
            )
        return [_link(row) for row in rows]

    async def links_of_group(
        self, group_chat_id: int, *, conn: Connection | None = None
    ) -> list[StoredLink]:
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM links WHERE group_chat_id = ? ORDER BY created_at DESC, link_id",
                (group_chat_id,),
            )
        return [_link(row) for row in rows]

    async def due_links(
        self, now: float, limit: int, *, conn: Connection | None = None
    ) -> list[StoredLink]:
        """Links to poll now, most overdue first: not past their final poll, and with a
        valid stored key to poll them with (a link whose key is gone would be due forever)."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM links WHERE final_polled = 0 AND next_poll_at <= ? "
                "AND EXISTS (SELECT 1 FROM credentials "
                "WHERE key_fingerprint = links.api_key_fingerprint AND status = 'valid') "
                "ORDER BY next_poll_at, link_id LIMIT ?",
                (now, limit),
            )
        return [_link(row) for row in rows]

    async def save_snapshot(
        self,
        conn: Connection | None,
        link_id: str,
        details: LinkDetails,
        *,
        next_poll_at: float,
        quiet_steps: int,
        final_polled: bool,
        last_charge_at: datetime | None = None,
    ) -> bool:
        """The poller's result: the provider's view of the link and when to poll it next.
        ``last_charge_at`` None keeps the stored one. False when the link is unknown."""
        link = details.link
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET title = ?, slug = ?, url = ?, currency = ?, status = ?, "
                "snapshot = ?, next_poll_at = ?, quiet_steps = ?, "
                "final_polled = ?, last_charge_at = COALESCE(?, last_charge_at) WHERE link_id = ?",
                (
                    link.title,
                    link.slug,
                    link.url,
                    link.currency,
                    link.status,
                    details.model_dump_json(),
                    next_poll_at,
                    quiet_steps,
                    int(final_polled),
                    _epoch(last_charge_at),
                    link_id,
                ),
            )
        return changed > 0

    async def set_next_poll(
        self,
        link_id: str,
        next_poll_at: float,
        *,
        quiet_steps: int | None = None,
        conn: Connection | None = None,
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET next_poll_at = ?, quiet_steps = COALESCE(?, quiet_steps) "
                "WHERE link_id = ?",
                (next_poll_at, quiet_steps, link_id),
            )
        return changed > 0

    async def set_muted(
        self, link_id: str, muted: bool, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET muted = ? WHERE link_id = ?", (int(muted), link_id)
            )
        return changed > 0

    async def set_group(
        self, link_id: str, group_chat_id: int | None, *, conn: Connection | None = None
    ) -> bool:
        """Attach the link to a known group (``upsert_group`` first), or detach it (None)."""
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET group_chat_id = ? WHERE link_id = ?", (group_chat_id, link_id)
            )
        return changed > 0

    async def set_qr_file_id(
        self, link_id: str, content_hash: str, file_id: str, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET qr_content_hash = ?, qr_file_id = ? WHERE link_id = ?",
                (content_hash, file_id, link_id),
            )
        return changed > 0

    async def get_qr_file_id(
        self, link_id: str, content_hash: str, *, conn: Connection | None = None
    ) -> str | None:
        """The uploaded card's file_id, if it was rendered from this very content."""
        async with self._reading(conn) as c:
            value = await c.fetchval(
                "SELECT qr_file_id FROM links WHERE link_id = ? AND qr_content_hash = ?",
                (link_id, content_hash),
            )
        return None if value is None else str(value)

    # --- charges ------------------------------------------------------------------------

    async def upsert_charges(
        self, conn: Connection | None, link_id: str, charges: Sequence[Charge]
    ) -> list[ChargeChange]:
        """Merge the provider's charges of a link; return what is new or changed status.

        The changes come in the order of ``charges``; a charge listed twice counts once
        (its first occurrence: the provider lists newest first). A charge whose status did
        not change is refreshed silently (say, a payer name that arrived late).
        """
        now = self._clock()
        changes: list[ChargeChange] = []
        seen: set[str] = set()
        async with self._writing(conn) as c:
            for charge in charges:
                if charge.id in seen:
                    continue
                seen.add(charge.id)
                old = await c.fetchone(
                    "SELECT * FROM charges WHERE link_id = ? AND charge_id = ?",
                    (link_id, charge.id),
                )
                values = (
                    _money(charge.amount),
                    charge.currency,
                    charge.status,
                    charge.payer_name,
                    charge.payment_type,
                    _epoch(charge.created_at),
                )
                if old is None:
                    await c.execute(
                        "INSERT INTO charges (amount, currency, status, payer_name, "
                        "payment_type, created_at, link_id, charge_id, first_seen_at, "
                        "status_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, link_id, charge.id, now, now),
                    )
                    previous: str | None = None
                else:
                    current = tuple(old[name] for name in _CHARGE_FIELDS)
                    # Optional fields the provider leaves out keep what we knew.
                    merged = tuple(
                        current[i] if value is None and name in _KEEP_IF_MISSING else value
                        for i, (name, value) in enumerate(zip(_CHARGE_FIELDS, values, strict=True))
                    )
                    if current == merged:
                        continue
                    previous = old["status"]
                    await c.execute(
                        "UPDATE charges SET amount = ?, currency = ?, status = ?, "
                        "payer_name = COALESCE(?, payer_name), "
                        "payment_type = COALESCE(?, payment_type), "
                        "created_at = COALESCE(?, created_at), "
                        "status_changed_at = CASE WHEN status = ? THEN status_changed_at "
                        "ELSE ? END WHERE link_id = ? AND charge_id = ?",
                        (*values, charge.status, now, link_id, charge.id),
                    )
                    if previous == charge.status:
                        continue
                row = await c.fetchone(
                    "SELECT * FROM charges WHERE link_id = ? AND charge_id = ?",
                    (link_id, charge.id),
                )
                assert row is not None
                changes.append(ChargeChange(charge=_charge(row), previous_status=previous))
        return changes

    async def mark_pending_noted(
        self, conn: Connection | None, link_id: str, charge_id: str
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE charges SET pending_noted = 1 WHERE link_id = ? AND charge_id = ?",
                (link_id, charge_id),
            )
        return changed > 0

    async def charges_of(
        self, link_id: str, *, conn: Connection | None = None
    ) -> list[StoredCharge]:
        """Every charge seen on the link, oldest first (by the provider's time when known)."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM charges WHERE link_id = ? "
                "ORDER BY COALESCE(created_at, first_seen_at), first_seen_at, charge_id",
                (link_id,),
            )
        return [_charge(row) for row in rows]

    # --- groups -------------------------------------------------------------------------

    async def upsert_group(
        self,
        chat_id: int,
        title: str,
        *,
        added_by: int | None = None,
        conn: Connection | None = None,
    ) -> Group:
        """The group, created or refreshed (title) and active again; settings are kept."""
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO groups (chat_id, title, added_by, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title, active = 1, "
                "added_by = COALESCE(excluded.added_by, groups.added_by)",
                (chat_id, title, added_by, self._clock()),
            )
            row = await c.fetchone("SELECT * FROM groups WHERE chat_id = ?", (chat_id,))
        assert row is not None
        return _group(row)

    async def get_group(self, chat_id: int, *, conn: Connection | None = None) -> Group | None:
        async with self._reading(conn) as c:
            row = await c.fetchone("SELECT * FROM groups WHERE chat_id = ?", (chat_id,))
        return None if row is None else _group(row)

    async def deactivate_group(self, chat_id: int, *, conn: Connection | None = None) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute("UPDATE groups SET active = 0 WHERE chat_id = ?", (chat_id,))
        return changed > 0

    async def set_group_language(
        self, chat_id: int, language: str | None, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE groups SET language = ? WHERE chat_id = ?", (language, chat_id)
            )
        return changed > 0

    async def set_anonymous_totals(
        self, chat_id: int, anonymous: bool, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE groups SET anonymous_totals = ? WHERE chat_id = ?",
                (int(anonymous), chat_id),
            )
        return changed > 0

    async def migrate_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: move ``old_id`` to ``new_id`` everywhere, atomically.

        Covers links (where made, group), the group row (the old row's settings win over a
        row the new id may already have), the outbox, and the Telegram persistence tables
        (chat_data, conversation keys). The running Application keeps its own copy of
        chat_data: callers go through ``bot.chat_migration.move_chat``, which moves both.
        """
        if old_id == new_id:
            return
        now = self._clock()
        async with self._db.transaction() as c:
            await c.execute("UPDATE links SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            if await c.fetchval("SELECT 1 FROM groups WHERE chat_id = ?", (old_id,)):
                # Links already on the new id rejoin the old row before it takes the new id.
                await c.execute(
                    "UPDATE links SET group_chat_id = ? WHERE group_chat_id = ?", (old_id, new_id)
                )
                await c.execute("DELETE FROM groups WHERE chat_id = ?", (new_id,))
                # ON UPDATE CASCADE carries links.group_chat_id along.
                await c.execute(
                    "UPDATE groups SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
                )
            await c.execute("UPDATE outbox SET chat_id = ? WHERE chat_id = ?", (new_id, old_id))
            if await c.fetchval("SELECT 1 FROM persist_chat_data WHERE chat_id = ?", (old_id,)):
                await c.execute("DELETE FROM persist_chat_data WHERE chat_id = ?", (new_id,))
                await c.execute(
                    "UPDATE persist_chat_data SET chat_id = ?, updated_at = ? WHERE chat_id = ?",
                    (new_id, now, old_id),
                )
            rows = await c.fetchall("SELECT name, key, state FROM persist_conversations")
            for row in rows:
                key = conversation_key(row["key"])
                # A user id is never negative, a group id always is: only chat ids can match.
                if old_id not in key:
                    continue
                moved = [new_id if part == old_id else part for part in key]
                await c.execute(
                    "DELETE FROM persist_conversations WHERE name = ? AND key = ?",
                    (row["name"], row["key"]),
                )
                await c.execute(
                    "INSERT OR REPLACE INTO persist_conversations (name, key, state, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (row["name"], conversation_key_text(moved), row["state"], now),
                )

    # --- outbox -------------------------------------------------------------------------
    #
    # Life of a row: pending -> (claim_due) in_flight -> sent | failed, or back to pending
    # (release: retry later). drop_for_chat moves a chat's pending rows to dropped.
    # A chat's rows go out one at a time, in order: claim_due takes only a chat's oldest
    # pending row, and only when none of its rows is in flight.
    #
    # Crash semantics: rows are enqueued in the same transaction as the change that caused
    # them, so no alert is lost. A row is marked sent only after Telegram accepted it; rows
    # found in flight at start (recover_in_flight) are sent again, so a crash repeats at
    # most the one message per chat that was being sent, and never drops one.

    async def enqueue(
        self,
        conn: Connection | None,
        chat_id: int,
        kind: str,
        payload: Mapping[str, Any],
        user_id: int | None = None,
        *,
        not_before: float | None = None,
    ) -> int:
        """Queue a message; ``payload`` is stored as JSON (``db.encode_json`` rules)."""
        now = self._clock()
        body = encode_json(dict(payload))
        async with self._writing(conn) as c:
            return await c.insert(
                "INSERT INTO outbox (chat_id, user_id, kind, payload, created_at, not_before) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, user_id, kind, body, now, now if not_before is None else not_before),
            )

    async def claim_due(self, now: float, limit: int) -> list[OutboxRow]:
        """Take up to ``limit`` due rows to send (they become in_flight), oldest first."""
        # The sender asks every second: an empty outbox costs a read, not a write transaction.
        async with self._db.reading() as c:
            due = await c.fetchval(
                "SELECT 1 FROM outbox WHERE state = 'pending' AND not_before <= ? LIMIT 1",
                (now,),
            )
        if not due:
            return []
        async with self._db.transaction() as c:
            rows = await c.fetchall(
                """
                UPDATE outbox SET state = 'in_flight', attempts = attempts + 1
                WHERE id IN (
                    SELECT o.id FROM outbox AS o
                    WHERE o.state = 'pending' AND o.not_before <= :now
                      AND o.id = (SELECT MIN(p.id) FROM outbox AS p
                                  WHERE p.chat_id = o.chat_id AND p.state = 'pending')
                      AND NOT EXISTS (SELECT 1 FROM outbox AS f
                                      WHERE f.chat_id = o.chat_id AND f.state = 'in_flight')
                    ORDER BY o.id LIMIT :limit
                )
                RETURNING *
                """,
                {"now": now, "limit": limit},
            )
        return sorted((_outbox(row) for row in rows), key=lambda row: row.id)

    async def mark_sent(self, outbox_id: int) -> bool:
        """Telegram took it. False when the row was not in flight."""
        return await self._finish(
            "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL "
            "WHERE id = ? AND state = 'in_flight'",
            (self._clock(), outbox_id),
        )

    async def mark_failed(self, outbox_id: int, error: str) -> bool:
        """Give up on it for good (the error is kept, truncated)."""
        return await self._finish(
            "UPDATE outbox SET state = 'failed', last_error = ? "
            "WHERE id = ? AND state = 'in_flight'",
            (error[:MAX_ERROR_CHARS], outbox_id),
        )

    async def release(self, outbox_id: int, not_before: float, error: str | None = None) -> bool:
        """Not now (flood limit, network): back to pending, due again at ``not_before``."""
        return await self._finish(
            "UPDATE outbox SET state = 'pending', not_before = ?, "
            "last_error = COALESCE(?, last_error) WHERE id = ? AND state = 'in_flight'",
            (not_before, None if error is None else error[:MAX_ERROR_CHARS], outbox_id),
        )

    async def _finish(self, sql: str, params: Sequence[Any]) -> bool:
        return await self._db.execute(sql, params) > 0

    async def drop_for_chat(self, chat_id: int, *, conn: Connection | None = None) -> int:
        """The chat is gone (bot blocked or removed): drop its pending rows. Rows in flight
        stay with the sender, which will mark them."""
        async with self._writing(conn) as c:
            return await c.execute(
                "UPDATE outbox SET state = 'dropped' WHERE chat_id = ? AND state = 'pending'",
                (chat_id,),
            )

    async def recover_in_flight(self) -> int:
        """At start, before any ``claim_due``: rows in flight belong to a dead process and
        may or may not have reached Telegram. Put them back to pending (keeping their
        ``not_before``) so they are sent again: at most one repeat, never a loss."""
        return await self._db.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'in_flight'"
        )

    async def get_outbox(self, outbox_id: int) -> OutboxRow | None:
        row = await self._db.fetchone("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        return None if row is None else _outbox(row)

    async def prune_outbox(self, before: float) -> int:
        """Delete finished rows (sent, failed, dropped) created before ``before``."""
        return await self._db.execute(
            "DELETE FROM outbox WHERE state IN ('sent', 'failed', 'dropped') AND created_at < ?",
            (before,),
        )

    # --- meta ---------------------------------------------------------------------------

    async def get_meta(self, key: str, *, conn: Connection | None = None) -> str | None:
        async with self._reading(conn) as c:
            value = await c.fetchval("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str, *, conn: Connection | None = None) -> None:
        async with self._writing(conn) as c:
            await c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- the notifier -------------------------------------------------------------------

    async def due_for_poll(
        self,
        now: float,
        *,
        limit: int,
        per_key: int,
        extra_fingerprints: Sequence[str] = (),
        skip_fingerprints: Sequence[str] = (),
        skip_links: Sequence[str] = (),
        conn: Connection | None = None,
    ) -> list[PollTarget]:
        """Links to poll now, most overdue first, at most ``per_key`` per key (so one busy key
        cannot crowd out the others). Only links whose owner is active and whose key is valid:
        a stored valid credential, or one of ``extra_fingerprints`` (the operator's key).
        Keys in ``skip_fingerprints`` (backing off, or already busy) and the links in
        ``skip_links`` (being polled right now) are left out."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                """
                WITH due AS (
                    SELECT l.link_id, l.owner_user_id, l.api_key_fingerprint, l.status,
                        l.next_poll_at, l.quiet_steps, l.last_charge_at, l.created_at, l.muted,
                        l.group_chat_id, u.notify_level
                    FROM links AS l JOIN users AS u ON u.user_id = l.owner_user_id
                    WHERE l.final_polled = 0 AND l.next_poll_at <= :now AND u.active = 1
                      AND l.api_key_fingerprint NOT IN (SELECT value FROM json_each(:skip))
                      AND l.link_id NOT IN (SELECT value FROM json_each(:skip_links))
                      AND (l.api_key_fingerprint IN (SELECT value FROM json_each(:extra))
                           OR EXISTS (SELECT 1 FROM credentials AS c
                                      WHERE c.key_fingerprint = l.api_key_fingerprint
                                        AND c.status = 'valid'))
                    ORDER BY l.next_poll_at
                    LIMIT :window
                )
                SELECT * FROM (
                    SELECT *, ROW_NUMBER() OVER (
                        PARTITION BY api_key_fingerprint ORDER BY next_poll_at, link_id
                    ) AS key_rank
                    FROM due
                )
                WHERE key_rank <= :per_key
                ORDER BY next_poll_at, link_id
                LIMIT :limit
                """,
                {
                    "now": now,
                    "skip": encode_json(list(skip_fingerprints)),
                    "skip_links": encode_json(list(skip_links)),
                    "extra": encode_json(list(extra_fingerprints)),
                    "per_key": per_key,
                    "limit": limit,
                    # The share-out looks at the most overdue links only: bounded work (and a
                    # short hold on the database) however long the backlog.
                    "window": limit * 4,
                },
            )
        return [
            PollTarget(
                link_id=row["link_id"],
                owner_user_id=row["owner_user_id"],
                api_key_fingerprint=row["api_key_fingerprint"],
                status=row["status"],
                next_poll_at=row["next_poll_at"],
                quiet_steps=row["quiet_steps"],
                last_charge_at=row["last_charge_at"],
                created_at=row["created_at"],
                muted=bool(row["muted"]),
                group_chat_id=row["group_chat_id"],
                notify_level=NotifyLevel(row["notify_level"]),
            )
            for row in rows
        ]

    async def reschedule_polls(
        self, rows: Sequence[tuple[str, float, int]], *, conn: Connection | None = None
    ) -> None:
        """Many ``(link_id, next_poll_at, quiet_steps)`` at once (one statement, batched)."""
        if not rows:
            return
        async with self._writing(conn) as c:
            await c.executemany(
                "UPDATE links SET next_poll_at = ?, quiet_steps = ? WHERE link_id = ?",
                [(next_poll_at, steps, link_id) for link_id, next_poll_at, steps in rows],
            )

    async def stop_polling(self, link_id: str, *, conn: Connection | None = None) -> bool:
        """No more polls for this link (the provider no longer knows it)."""
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET final_polled = 1 WHERE link_id = ?", (link_id,)
            )
        return changed > 0

    async def pending_charges(
        self, link_id: str, *, conn: Connection | None = None
    ) -> list[StoredCharge]:
        """The link's charges still pending that have not had their "still pending" note."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT * FROM charges WHERE link_id = ? AND status = 'pending' "
                "AND pending_noted = 0 ORDER BY first_seen_at, charge_id",
                (link_id,),
            )
        return [_charge(row) for row in rows]

    async def link_states(
        self, link_ids: Sequence[str], *, conn: Connection | None = None
    ) -> dict[str, LinkState]:
        """The stored state of those of ``link_ids`` the bot knows."""
        if not link_ids:
            return {}
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT link_id, owner_user_id, api_key_fingerprint, status, final_polled, "
                "json_extract(snapshot, '$.link.use_count') AS use_count "
                "FROM links WHERE link_id IN (SELECT value FROM json_each(?))",
                (encode_json(list(link_ids)),),
            )
        return {
            row["link_id"]: LinkState(
                link_id=row["link_id"],
                owner_user_id=row["owner_user_id"],
                api_key_fingerprint=row["api_key_fingerprint"],
                status=row["status"],
                final_polled=bool(row["final_polled"]),
                use_count=None if row["use_count"] is None else int(row["use_count"]),
            )
            for row in rows
        }

    async def poll_soon(
        self, link_ids: Sequence[str], now: float, *, conn: Connection | None = None
    ) -> None:
        """Make these links due at ``now`` at the latest (the list showed they changed)."""
        if not link_ids:
            return
        async with self._writing(conn) as c:
            await c.execute(
                "UPDATE links SET next_poll_at = MIN(next_poll_at, ?), quiet_steps = 0 "
                "WHERE final_polled = 0 AND link_id IN (SELECT value FROM json_each(?))",
                (now, encode_json(list(link_ids))),
            )

    async def shift_schedule(
        self, seconds: float, now: float, *, conn: Connection | None = None
    ) -> None:
        """The wall clock stepped back by ``seconds`` (it reads ``now``): every stored time
        still to come moves back as much, so nothing waits the size of the step (polls,
        alert retries)."""
        async with self._writing(conn) as c:
            await c.execute(
                "UPDATE links SET next_poll_at = next_poll_at - ? "
                "WHERE final_polled = 0 AND next_poll_at > ?",
                (seconds, now),
            )
            await c.execute(
                "UPDATE outbox SET not_before = not_before - ? "
                "WHERE state = 'pending' AND not_before > ?",
                (seconds, now),
            )

    async def claim_more(self, chat_id: int, kind: str, now: float, limit: int) -> list[OutboxRow]:
        """Beside a row just claimed for ``chat_id``, take its next due rows of ``kind`` too
        (they become in flight), oldest first: the sender merges them into one message."""
        if limit <= 0:
            return []
        async with self._db.transaction() as c:
            rows = await c.fetchall(
                """
                UPDATE outbox SET state = 'in_flight', attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE chat_id = ? AND state = 'pending' AND kind = ? AND not_before <= ?
                    ORDER BY id LIMIT ?
                )
                RETURNING *
                """,
                (chat_id, kind, now, limit),
            )
        return sorted((_outbox(row) for row in rows), key=lambda row: row.id)
