"""The Fernet key that encrypts users' API keys at rest, and the vault that uses it.

The key comes from ``BOT_ENCRYPTION_KEY`` when set, else from ``<data_dir>/secret.key``
(created on first start, mode 0600). No message or repr here ever contains a key.

API keys are found by fingerprint (which users share a key, which key a link was made with)
without decrypting anything. The fingerprint is an HMAC keyed by a secret derived from the
encryption key: a plain hash beside the ciphertext would let whoever copies the database test
a guessed or leaked API key against it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILENAME = "secret.key"

# Marks the HMAC form, so the start-up upgrade (``Repo.upgrade_fingerprints``) can tell it
# from the unsalted SHA-256 of earlier versions and never hashes a fingerprint twice.
FINGERPRINT_PREFIX = "h1:"
_FINGERPRINT_INFO = b"paylinks: API key fingerprints"

WRONG_KEY_MESSAGE = (
    "the encryption key does not match the stored API keys; "
    "restore BOT_ENCRYPTION_KEY / secret.key"
)


class EncryptionKeyError(Exception):
    """The encryption key is malformed, or is not the key the stored data was written with."""


def _checked(key: bytes, source: str) -> bytes:
    try:
        Fernet(key)
    except (ValueError, binascii.Error, TypeError):
        # The library's own message is fine, but we never chain an error carrying key text.
        raise EncryptionKeyError(
            f"{source} is not a valid encryption key: it must be 32 url-safe base64-encoded "
            "bytes (44 characters), as made by Fernet.generate_key()"
        ) from None
    return key


def load_or_create_key(data_dir: Path, env_key: str | None) -> bytes:
    """The Fernet key: ``env_key`` when given, else ``<data_dir>/secret.key``, made if absent."""
    if env_key is not None:
        return _checked(env_key.strip().encode("ascii", "replace"), "BOT_ENCRYPTION_KEY")
    path = data_dir / KEY_FILENAME
    try:
        stored = path.read_bytes()
    except FileNotFoundError:
        return _create_key_file(path)
    return _checked(stored.strip(), str(path))


def _create_key_file(path: Path) -> bytes:
    """Write a new key to ``path`` with mode 0600, atomically and without clobbering.

    The key is written and fsynced under a temporary name, then published with
    ``os.link``, which (unlike rename) fails when the name already exists: if two processes
    race on a first start, both end up with the same key, the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            # The umask can only remove bits, but be explicit about the result.
            os.fchmod(fd, 0o600)
            os.write(fd, key + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            return _checked(path.read_bytes().strip(), str(path))
        _fsync_dir(path.parent)
        return key
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _fsync_dir(directory: Path) -> None:
    # Makes the new name itself durable; not every platform allows opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def legacy_fingerprint(api_key: str) -> str:
    """The unsalted SHA-256 that earlier versions stored; only to recognise their rows."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def key_last4(api_key: str) -> str:
    return api_key[-4:]


class KeyVault:
    """Encrypts and decrypts short secrets (API keys) with the bot's Fernet key, and
    fingerprints them with a secret derived from it."""

    __slots__ = ("_fernet", "_fingerprint_secret")

    def __init__(self, key: bytes) -> None:
        checked = _checked(key, "the encryption key")
        self._fernet = Fernet(checked)
        # HKDF: the fingerprint secret reveals nothing of the key that encrypts.
        self._fingerprint_secret = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_FINGERPRINT_INFO
        ).derive(base64.urlsafe_b64decode(checked))

    def __repr__(self) -> str:
        return "KeyVault(key=<hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise EncryptionKeyError(WRONG_KEY_MESSAGE) from None

    def fingerprint(self, api_key: str) -> str:
        """The key's fingerprint: equal for equal keys, useless without the encryption key."""
        return self._mac(api_key.encode("utf-8"))

    def fingerprint_of_legacy(self, legacy: str) -> str:
        """A new-form stand-in for an old fingerprint whose key the bot no longer holds: links
        made with one such key stay together, and the plain hash is gone from the database."""
        return self._mac(b"legacy:" + legacy.encode("ascii", "replace"))

    def _mac(self, data: bytes) -> str:
        digest = hmac.new(self._fingerprint_secret, data, hashlib.sha256).hexdigest()
        return FINGERPRINT_PREFIX + digest
