"""The bot's hold on its data folder: private to its user, and one bot process at a time.

Two bots on one folder would both send and mark the same outbox rows (double alerts, lost
ones), so a running bot keeps an exclusive ``flock`` on ``<data_dir>/bot.lock`` for its whole
life. The kernel drops the lock when the process ends, however it ends: a ``kill -9`` leaves
the file behind, never a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

LOCK_FILENAME = "bot.lock"
PRIVATE_DIR = 0o700


class DataDirBusyError(Exception):
    """Another process holds the data folder's lock."""


def make_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or set an existing folder to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)


@contextlib.contextmanager
def hold_data_dir(path: Path) -> Iterator[None]:
    """Make the folder private and lock it for the block; ``DataDirBusyError`` when another
    process has it."""
    make_private_dir(path)
    lock_path = path / LOCK_FILENAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusyError(
                f"another bot is already running on BOT_DATA_DIR ({path}): stop it first, "
                "or give this one a data folder of its own"
            ) from None
        # For the operator who wonders which process holds it.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)
