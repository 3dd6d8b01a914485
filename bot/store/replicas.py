"""The ``replicas`` and ``job_runs`` tables: which replicas are alive, and which one runs a
once-only job (the sweep of every key's list, the prune) this time round.

Each replica writes its heartbeat (``last_seen``) every few seconds; a replica not seen for
``within`` seconds counts as dead. Telegram's send rate is shared by the live count
(``bot/replicas.py``). A once-only job is taken by one conditional write on the job's row:
the first replica whose timer fires after ``every`` seconds (less a little slack, as the
replicas' timers are not aligned) since the last start takes it; the others skip that round.
"""

from __future__ import annotations

from bot.store.base import Queries

# A job's row may be taken again this much before a whole interval has passed, so that a
# replica whose timer runs a little early does not wait a second whole interval.
JOB_SLACK = 0.9


class ReplicaQueries(Queries):
    """Replica heartbeats and once-only job runs."""

    async def replica_beat(self, replica: str) -> None:
        now = self._clock()
        await self._db.execute(
            "INSERT INTO replicas (replica_id, started_at, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (replica_id) DO UPDATE SET last_seen = excluded.last_seen",
            (replica, now, now),
        )

    async def replica_gone(self, replica: str) -> None:
        """A replica stopping says so: the others take its share of the send rate at once."""
        await self._db.execute("DELETE FROM replicas WHERE replica_id = ?", (replica,))

    async def live_replicas(self, within: float) -> int:
        """Replicas seen in the last ``within`` seconds (the caller is one: at least 1)."""
        now = self._clock()
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM replicas WHERE last_seen >= ?", (now - within,)
        )
        return max(1, 0 if row is None else int(row[0]))

    async def prune_replicas(self, before: float) -> int:
        return await self._db.execute("DELETE FROM replicas WHERE last_seen < ?", (before,))

    async def take_job(self, job: str, replica: str, every: float) -> bool:
        """True when ``replica`` runs ``job`` now: nobody started it in the last
        ``every`` seconds (less the slack). At most one replica gets True per round."""
        now = self._clock()
        async with self._db.transaction() as c:
            await c.execute(
                "INSERT INTO job_runs (job, started_at, replica_id) VALUES (?, ?, ?) "
                "ON CONFLICT (job) DO NOTHING",
                (job, now - 2 * every, replica),
            )
            # One statement: of two replicas, the second re-reads the row the first wrote
            # (its row lock) and finds the job started.
            taken = await c.execute(
                "UPDATE job_runs SET started_at = ?, replica_id = ? "
                "WHERE job = ? AND started_at <= ?",
                (now, replica, job, now - every * JOB_SLACK),
            )
        return taken > 0
