"""Links adopted from the provider's list: the ``use_count`` they had when the bot found them.

Finding 2,000 links made before their key was connected costs 20 list requests, not 2,000
details calls: such a link is stored from the list alone, with its ``use_count`` then. Its
charges are fetched only when the list shows it changed; that first details poll tells the
payments that came after (the newest ``use_count`` now − then successes, and anything made
after the adoption) and keeps the rest as history. Rows live in ``baselines`` (migration 4)
until that first poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.db import Connection


@dataclass(frozen=True, slots=True)
class Baseline:
    link_id: str
    use_count: int  # successful payments when the link was adopted: history
    adopted_at: float  # epoch seconds


async def set_baseline(conn: Connection, link_id: str, use_count: int, adopted_at: float) -> None:
    """The link (just stored) was adopted from the list with this ``use_count``: the sweep
    compares the list with it from now on."""
    await conn.execute("UPDATE links SET use_count = ? WHERE link_id = ?", (use_count, link_id))
    await conn.execute(
        "INSERT INTO baselines (link_id, use_count, adopted_at) VALUES (?, ?, ?) "
        "ON CONFLICT (link_id) DO NOTHING",
        (link_id, use_count, adopted_at),
    )


async def take_baseline(conn: Connection, link_id: str) -> Baseline | None:
    """The link's baseline, removed: its first details poll uses it once."""
    row = await conn.fetchone(
        "DELETE FROM baselines WHERE link_id = ? RETURNING use_count, adopted_at", (link_id,)
    )
    if row is None:
        return None
    return Baseline(link_id, int(row["use_count"]), float(row["adopted_at"]))
