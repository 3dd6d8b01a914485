"""Durable storage: one SQLite database in the data dir (see ``db.py``)."""

from __future__ import annotations

from bot.store.db import Connection, Database, DatabaseError, database_path
from bot.store.models import (
    ChargeChange,
    Credential,
    CredentialStatus,
    Group,
    NotifyLevel,
    OutboxRow,
    OutboxState,
    StoredCharge,
    StoredLink,
    User,
)
from bot.store.repo import Repo
from bot.store.secrets import EncryptionKeyError, KeyVault, load_or_create_key

__all__ = [
    "ChargeChange",
    "Connection",
    "Credential",
    "CredentialStatus",
    "Database",
    "DatabaseError",
    "EncryptionKeyError",
    "Group",
    "KeyVault",
    "NotifyLevel",
    "OutboxRow",
    "OutboxState",
    "Repo",
    "StoredCharge",
    "StoredLink",
    "User",
    "database_path",
    "load_or_create_key",
]
