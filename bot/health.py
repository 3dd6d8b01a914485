"""Liveness for containers: the running bot touches a heartbeat file; ``health`` reads it."""

from __future__ import annotations

import time
from pathlib import Path

HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_SECONDS = 30
STALE_AFTER_SECONDS = 4 * HEARTBEAT_SECONDS


def beat(data_dir: Path) -> None:
    path = data_dir / HEARTBEAT_FILE
    path.touch()


def is_alive(data_dir: Path, now: float | None = None) -> bool:
    """True when the bot wrote its heartbeat recently (the event loop is turning)."""
    try:
        modified = (data_dir / HEARTBEAT_FILE).stat().st_mtime
    except FileNotFoundError:
        return False
    return (now or time.time()) - modified < STALE_AFTER_SECONDS
