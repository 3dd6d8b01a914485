"""The encryption key: where it comes from, how it fails, and that keys never sit in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import sqlite3
import stat
import traceback
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.store import Database, EncryptionKeyError, KeyVault, Repo, load_or_create_key
from bot.store.secrets import _create_key_file

API_KEY = "dgs_live_Zq8XvR2mPp4KcT7w"


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    key = load_or_create_key(data_dir, None)
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert KeyVault(key).decrypt(Fernet(key).encrypt(b"x").decode()) == "x"
    assert load_or_create_key(data_dir, None) == key
    # No temporary file is left behind.
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key"]


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    # Two processes starting at once: the loser of the race must adopt the winner's key.
    winner = load_or_create_key(tmp_path, None)
    assert _create_key_file(tmp_path / "secret.key") == winner
    assert load_or_create_key(tmp_path, None) == winner


def test_env_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    env_key = Fernet.generate_key().decode()
    assert load_or_create_key(tmp_path, f"  {env_key}\n") == env_key.encode()
    assert not (tmp_path / "secret.key").exists()


@pytest.mark.parametrize(
    "bad",
    ["not-a-key-at-all-but-a-long-secret-looking-string", "c2hvcnQ=", "é" * 44, ""],
)
def test_bad_env_key_fails_clearly_without_showing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(EncryptionKeyError, match="BOT_ENCRYPTION_KEY") as caught:
        load_or_create_key(tmp_path, bad)
    shown = "".join(traceback.format_exception(caught.value))
    if bad:
        assert bad not in shown
    assert "32 url-safe base64" in str(caught.value)
    assert not (tmp_path / "secret.key").exists()


def test_corrupt_key_file_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("garbage-garbage-garbage\n")
    with pytest.raises(EncryptionKeyError, match=r"secret\.key") as caught:
        load_or_create_key(tmp_path, None)
    assert "garbage" not in "".join(traceback.format_exception(caught.value))
    assert (tmp_path / "secret.key").read_text() == "garbage-garbage-garbage\n"


def test_vault_round_trip_and_repr_hides_the_key() -> None:
    key = Fernet.generate_key()
    vault = KeyVault(key)
    token = vault.encrypt(API_KEY)
    assert API_KEY not in token
    assert vault.decrypt(token) == API_KEY
    assert key.decode() not in repr(vault)
    assert key.decode() not in str(vault)


def test_wrong_key_says_what_to_do() -> None:
    token = KeyVault(Fernet.generate_key()).encrypt(API_KEY)
    with pytest.raises(EncryptionKeyError) as caught:
        KeyVault(Fernet.generate_key()).decrypt(token)
    message = str(caught.value)
    assert "does not match the stored API keys" in message
    assert "BOT_ENCRYPTION_KEY" in message
    assert "secret.key" in message


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as raw:
        lines = list(raw.iterdump())
    raw.close()
    return lines


async def test_wrong_key_is_caught_at_start_and_touches_no_row(tmp_path: Path) -> None:
    path = tmp_path / "paylinks.sqlite3"
    right = KeyVault(load_or_create_key(tmp_path, None))
    db = await Database.open(path)
    repo = Repo(db, right)
    await repo.verify_vault()  # nothing stored yet: any key will do
    await repo.save_credential(1, API_KEY)
    await repo.save_credential(2, "another-key-5678")
    await repo.verify_vault()
    await db.close()
    before = _dump(path)

    db = await Database.open(path)
    try:
        repo = Repo(db, KeyVault(Fernet.generate_key()))
        with pytest.raises(EncryptionKeyError, match="does not match"):
            await repo.verify_vault()
    finally:
        await db.close()
    assert _dump(path) == before

    db = await Database.open(path)
    try:
        repo = Repo(db, right)
        await repo.verify_vault()
        assert await repo.get_api_key(1) == API_KEY
    finally:
        await db.close()


def _database_bytes(directory: Path) -> bytes:
    files = sorted(p for p in directory.iterdir() if p.name.startswith("paylinks.sqlite3"))
    return b"".join(p.read_bytes() for p in files)


async def test_api_keys_are_not_stored_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "paylinks.sqlite3"
    db = await Database.open(path)
    try:
        repo = Repo(db, KeyVault(load_or_create_key(tmp_path, None)))
        saved = await repo.save_credential(1, API_KEY)
        # The WAL holds the fresh row until a checkpoint: read every file of the database.
        raw = _database_bytes(tmp_path)
        # Positive control: the row is in these bytes (its fingerprint is stored in clear).
        assert saved.key_fingerprint.encode() in raw
        assert API_KEY.encode() not in raw
        # Nor a plain hash of it, which would confirm a guessed or leaked key.
        assert hashlib.sha256(API_KEY.encode()).hexdigest().encode() not in raw
    finally:
        await db.close()
    raw = _database_bytes(tmp_path)
    assert saved.key_fingerprint.encode() in raw
    assert API_KEY.encode() not in raw
    assert hashlib.sha256(API_KEY.encode()).hexdigest().encode() not in raw


def test_fingerprint_is_keyed_by_the_encryption_key() -> None:
    key = Fernet.generate_key()
    vault = KeyVault(key)
    fingerprint = vault.fingerprint(API_KEY)
    # Equal keys, equal fingerprints, also in another vault with the same encryption key.
    assert KeyVault(key).fingerprint(API_KEY) == fingerprint
    assert vault.fingerprint("another-key-5678") != fingerprint
    # Without the encryption key, neither the plain hash nor another vault finds it.
    assert hashlib.sha256(API_KEY.encode()).hexdigest() not in fingerprint
    assert KeyVault(Fernet.generate_key()).fingerprint(API_KEY) != fingerprint
    # Nor is it a MAC keyed by the encryption key itself: the secret is derived.
    for secret in (key, base64.urlsafe_b64decode(key)):
        assert hmac.new(secret, API_KEY.encode(), hashlib.sha256).hexdigest() not in fingerprint
