"""The schema, as a forward-only list of migrations.

Migration N (1-based) takes a database at schema version N-1 to N, inside one transaction
(SQLite: ``PRAGMA user_version``, ``db._migrate``; PostgreSQL: the ``schema_version`` table,
``postgres._migrate``). A migration is an SQL script, an async callable taking the
transaction's ``Connection``, or ``PerDialect`` when a statement has no form both engines
accept. Never edit a released migration: append a new one.

The scripts are written in SQLite's words; on PostgreSQL ``postgres.py`` maps the column
types of CREATE/ALTER TABLE (INTEGER → BIGINT, REAL → DOUBLE PRECISION, TEXT → TEXT COLLATE
"C" so text sorts as in SQLite, BLOB → BYTEA, AUTOINCREMENT → an identity) and drops
STRICT / WITHOUT ROWID. The same numbered list serves both.

Conventions of the schema: times are epoch seconds (REAL, UTC); money is TEXT holding a
decimal string (``str(Decimal)``), read back with ``Decimal(text)`` exactly; booleans are
INTEGER 0/1; JSON is TEXT. Tables are STRICT, so a wrong type is an error, not a coercion.
PRAGMA foreign_keys cannot change inside a transaction: a migration that rebuilds a table
must keep every reference valid at its end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from bot.store.engine import Connection


@dataclass(frozen=True, slots=True)
class PerDialect:
    """One migration written twice, where the engines have no statement in common."""

    sqlite: str
    postgresql: str


Migration: TypeAlias = "str | PerDialect | Callable[[Connection], Awaitable[None]]"
Step: TypeAlias = "str | Callable[[Connection], Awaitable[None]]"


def for_dialect(migration: Migration, dialect: str) -> Step:
    """What ``migration`` runs on ``dialect`` ("sqlite" or "postgresql")."""
    if isinstance(migration, PerDialect):
        return migration.postgresql if dialect == "postgresql" else migration.sqlite
    return migration


# 1: the product's data.
V1_CORE = """
CREATE TABLE users (
    user_id INTEGER PRIMARY KEY,
    language TEXT,
    default_currency TEXT,
    notify_level TEXT NOT NULL DEFAULT 'all' CHECK (notify_level IN ('all', 'payments', 'off')),
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

CREATE TABLE credentials (
    user_id INTEGER PRIMARY KEY REFERENCES users (user_id) ON DELETE CASCADE,
    encrypted_key TEXT NOT NULL,
    key_last4 TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'invalid')),
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX credentials_by_fingerprint ON credentials (key_fingerprint);

CREATE TABLE groups (
    chat_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    language TEXT,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    anonymous_totals INTEGER NOT NULL DEFAULT 0 CHECK (anonymous_totals IN (0, 1)),
    added_by INTEGER,
    created_at REAL NOT NULL
) STRICT;

CREATE TABLE links (
    link_id TEXT PRIMARY KEY,
    owner_user_id INTEGER NOT NULL REFERENCES users (user_id),
    api_key_fingerprint TEXT NOT NULL,
    chat_id INTEGER,
    group_chat_id INTEGER REFERENCES groups (chat_id) ON UPDATE CASCADE ON DELETE SET NULL,
    title TEXT NOT NULL DEFAULT '',
    slug TEXT,
    url TEXT,
    currency TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    snapshot TEXT,
    next_poll_at REAL NOT NULL,
    quiet_steps INTEGER NOT NULL DEFAULT 0,
    last_charge_at REAL,
    final_polled INTEGER NOT NULL DEFAULT 0 CHECK (final_polled IN (0, 1)),
    muted INTEGER NOT NULL DEFAULT 0 CHECK (muted IN (0, 1)),
    created_at REAL NOT NULL,
    client_ref TEXT
) STRICT;
CREATE INDEX links_by_owner ON links (owner_user_id, created_at);
CREATE INDEX links_by_group ON links (group_chat_id);
CREATE INDEX links_due ON links (next_poll_at) WHERE final_polled = 0;

CREATE TABLE charges (
    link_id TEXT NOT NULL REFERENCES links (link_id) ON DELETE CASCADE,
    charge_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    payer_name TEXT,
    payment_type TEXT,
    created_at REAL,
    first_seen_at REAL NOT NULL,
    status_changed_at REAL NOT NULL,
    pending_noted INTEGER NOT NULL DEFAULT 0 CHECK (pending_noted IN (0, 1)),
    PRIMARY KEY (link_id, charge_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL,
    user_id INTEGER,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'in_flight', 'sent', 'failed', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    sent_at REAL,
    last_error TEXT
) STRICT;
CREATE INDEX outbox_by_state ON outbox (state, chat_id, id);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
"""

# 2: Telegram-side state: the QR card cache and python-telegram-bot's persistence.
V2_TELEGRAM = """
ALTER TABLE links ADD COLUMN qr_content_hash TEXT;
ALTER TABLE links ADD COLUMN qr_file_id TEXT;

CREATE TABLE persist_user_data (
    user_id INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

CREATE TABLE persist_chat_data (
    chat_id INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL
) STRICT;

-- key: the conversation key as a compact JSON array, e.g. [-100123,42]
CREATE TABLE persist_conversations (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (name, key)
) STRICT, WITHOUT ROWID;
"""


V3_DRIVES = """
CREATE TABLE drives (
    link_id TEXT PRIMARY KEY REFERENCES links (link_id) ON DELETE CASCADE,
    group_chat_id INTEGER NOT NULL REFERENCES groups (chat_id) ON UPDATE CASCADE,
    goal TEXT NOT NULL,
    suggested TEXT NOT NULL DEFAULT '',
    card_message_id INTEGER,
    milestone INTEGER NOT NULL DEFAULT 0,
    card_edited_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX drives_by_group ON drives (group_chat_id);
"""

# 4: each link's use_count (successful payments) as last seen, so the sweep compares the
# provider's list with a column, not with the snapshot's JSON; and the links adopted from the
# list without a details call, with the use_count they had then: their first details poll
# tells only what came after (bot/notify/recording.py).
_V4_BASELINES_TABLE = """
CREATE TABLE baselines (
    link_id TEXT PRIMARY KEY REFERENCES links (link_id) ON DELETE CASCADE,
    use_count INTEGER NOT NULL,
    adopted_at REAL NOT NULL
) STRICT;
"""
V4_BASELINES = PerDialect(
    sqlite="""
ALTER TABLE links ADD COLUMN use_count INTEGER;
UPDATE links SET use_count = json_extract(snapshot, '$.link.use_count')
    WHERE snapshot IS NOT NULL;
"""
    + _V4_BASELINES_TABLE,
    postgresql="""
ALTER TABLE links ADD COLUMN use_count INTEGER;
UPDATE links SET use_count = CAST(CAST(snapshot AS json) #>> '{link,use_count}' AS BIGINT)
    WHERE snapshot IS NOT NULL;
"""
    + _V4_BASELINES_TABLE,
)

# 5 (issue 16, point 3): N replicas on one PostgreSQL. The inbox of updates the webhook took
# (keyed by update_id: Telegram's repeat is dropped), leased a chat at a time by the replica
# working on it; the live replicas (their heartbeat shares Telegram's send rate); the last start
# of each once-only job; a lease on outbox rows in flight and on links being polled, so a dead
# replica's claims expire. SQLite (one process) has the tables and never uses them.
V5_REPLICAS = """
CREATE TABLE inbox (
    update_id INTEGER PRIMARY KEY,
    chat_key INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at REAL NOT NULL,
    leased_by TEXT,
    lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    done_at REAL
) STRICT;
CREATE INDEX inbox_waiting ON inbox (chat_key, update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE replicas (
    replica_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    last_seen REAL NOT NULL
) STRICT;

CREATE TABLE job_runs (
    job TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    replica_id TEXT NOT NULL
) STRICT;

ALTER TABLE outbox ADD COLUMN lease_until REAL;
ALTER TABLE links ADD COLUMN poll_lease_until REAL;
"""

# 6 (issue 17): a shop's saved items (name and price), the link one tap made for an item on a
# Kigali day (reused that day while it is open, at the same price and name), and the till's
# QR messages, edited to "Paid" once a payment on their link is recorded. No foreign key to
# ``links``: a link's record may land after its item or till row (bot/linkservice.py).
V6_ITEMS = """
CREATE TABLE items (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    price TEXT NOT NULL,
    currency TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) STRICT;
CREATE INDEX items_by_owner ON items (owner_user_id, item_id);

CREATE TABLE item_links (
    item_id INTEGER NOT NULL REFERENCES items (item_id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    link_id TEXT NOT NULL,
    name TEXT NOT NULL,
    price TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (item_id, day, link_id)
) STRICT;

CREATE TABLE tills (
    link_id TEXT PRIMARY KEY,
    owner_user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    language TEXT NOT NULL,
    created_at REAL NOT NULL,
    paid_at REAL
) STRICT;
CREATE INDEX tills_open ON tills (created_at) WHERE paid_at IS NULL;
"""

# 7 (issue 17, points 4 and 5): an unpaid invoice's one reminder; the daily totals' time and
# switch per vendor, and the days already told (the primary key makes a day's message
# once-only, across restarts and replicas: its row is written with the outbox row).
V7_DAILY = """
CREATE TABLE reminders (
    link_id TEXT PRIMARY KEY REFERENCES links (link_id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL,
    choice TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    remind_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'skipped')),
    created_at REAL NOT NULL
) STRICT;
CREATE INDEX reminders_due ON reminders (remind_at) WHERE state = 'pending';

CREATE TABLE daily_settings (
    user_id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'on', 'off')),
    minute INTEGER NOT NULL DEFAULT 1200 CHECK (minute >= 0 AND minute < 1440)
) STRICT;
CREATE INDEX daily_settings_on ON daily_settings (mode) WHERE mode = 'on';

CREATE TABLE daily_summaries (
    user_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    outbox_id INTEGER,
    created_at REAL NOT NULL,
    PRIMARY KEY (user_id, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX links_by_created ON links (created_at);
"""

# 8 (issue 17, point 1): staff. A cashier acts with the shop owner's key (never shown to them);
# ``shop_fingerprint`` is that key's keyed fingerprint when they joined: a link of that key
# made by the cashier is theirs to act on while ``removed_at`` is NULL. A removed cashier's
# row stays, so their old buttons are refused. Names are Telegram's first names, as shown in
# /staff (the bot keeps no other names of its users). An invite is stored by the SHA-256 of its
# token (the deep link carries the token itself), single use, with its expiry.
V8_STAFF = """
CREATE TABLE staff (
    cashier_user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    owner_user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    shop_fingerprint TEXT NOT NULL,
    cashier_name TEXT NOT NULL,
    owner_name TEXT NOT NULL,
    owner_alerts INTEGER NOT NULL DEFAULT 1,
    joined_at REAL NOT NULL,
    removed_at REAL,
    PRIMARY KEY (cashier_user_id, owner_user_id)
) STRICT;
CREATE INDEX staff_by_owner ON staff (owner_user_id);
CREATE INDEX staff_by_key ON staff (cashier_user_id, shop_fingerprint);

CREATE TABLE staff_invites (
    token_hash TEXT PRIMARY KEY,
    owner_user_id INTEGER NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    owner_name TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_by INTEGER,
    used_at REAL
) STRICT;
"""

MIGRATIONS: tuple[Migration, ...] = (
    V1_CORE,
    V2_TELEGRAM,
    V3_DRIVES,
    V4_BASELINES,
    V5_REPLICAS,
    V6_ITEMS,
    V7_DAILY,
    V8_STAFF,
)
