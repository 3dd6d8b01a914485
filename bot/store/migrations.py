"""The schema, as a forward-only list of migrations.

Migration N (1-based) takes a database at ``PRAGMA user_version`` N-1 to N, inside one
transaction (``db._migrate``). A migration is an SQL script or an async callable taking the
transaction's ``Connection``. Never edit a released migration: append a new one.

Conventions of the schema: times are epoch seconds (REAL, UTC); money is TEXT holding a
decimal string (``str(Decimal)``), read back with ``Decimal(text)`` exactly; booleans are
INTEGER 0/1; JSON is TEXT. Tables are STRICT, so a wrong type is an error, not a coercion.
PRAGMA foreign_keys cannot change inside a transaction: a migration that rebuilds a table
must keep every reference valid at its end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from bot.store.db import Connection

Migration: TypeAlias = "str | Callable[[Connection], Awaitable[None]]"

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
V4_BASELINES = """
ALTER TABLE links ADD COLUMN use_count INTEGER;
UPDATE links SET use_count = json_extract(snapshot, '$.link.use_count')
    WHERE snapshot IS NOT NULL;
CREATE TABLE baselines (
    link_id TEXT PRIMARY KEY REFERENCES links (link_id) ON DELETE CASCADE,
    use_count INTEGER NOT NULL,
    adopted_at REAL NOT NULL
) STRICT;
"""

MIGRATIONS: tuple[Migration, ...] = (V1_CORE, V2_TELEGRAM, V3_DRIVES, V4_BASELINES)
