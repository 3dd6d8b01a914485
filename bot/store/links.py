"""The ``links`` table as the bot and its users see it: recorded, listed, muted, and
the uploaded QR card's file_id. The notifier's columns are ``polling.py``'s."""

from __future__ import annotations

from collections.abc import Sequence

from bot.dgs.models import Link, LinkDetails
from bot.store.base import ENSURE_USER, Queries, epoch, utc, utc_or_none
from bot.store.db import (
    Connection,
    encode_json,
)
from bot.store.engine import NO_LIMIT, Row, json_values
from bot.store.models import (
    StoredLink,
)


def _link(row: Row) -> StoredLink:
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
        last_charge_at=utc_or_none(row["last_charge_at"]),
        final_polled=bool(row["final_polled"]),
        muted=bool(row["muted"]),
        created_at=utc(row["created_at"]),
        client_ref=row["client_ref"],
    )


class LinkQueries(Queries):
    """Links: recorded from the provider's answers, found by owner or key."""

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
            "created_at": epoch(link.created_at) if link.created_at is not None else now,
            "client_ref": client_ref,
        }
        async with self._writing(conn) as c:
            await c.execute(ENSURE_USER, (owner_user_id, now, now))
            await c.execute(
                """
                INSERT INTO links (
                    link_id, owner_user_id, api_key_fingerprint, chat_id, group_chat_id,
                    title, slug, url, currency, status, next_poll_at, created_at, client_ref
                ) VALUES (
                    :link_id, :owner, :fingerprint, :chat_id, :group_chat_id,
                    :title, :slug, :url, :currency, :status,
                    COALESCE(CAST(:next_poll_at AS DOUBLE PRECISION), :now),
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
                        WHEN CAST(:next_poll_at AS DOUBLE PRECISION) IS NOT NULL
                            THEN CAST(:next_poll_at AS DOUBLE PRECISION)
                        WHEN links.status != excluded.status AND :now < links.next_poll_at
                            THEN :now
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
                (user_id, NO_LIMIT if limit is None else limit, offset),
            )
        return [_link(row) for row in rows]

    async def links_on_key_by_owner(
        self, fingerprint: str, *, excluding: Sequence[int] = (), conn: Connection | None = None
    ) -> dict[int, int]:
        """How many links of each owner (but ``excluding``) were made with this key."""
        async with self._reading(conn) as c:
            rows = await c.fetchall(
                "SELECT owner_user_id, count(*) AS n FROM links WHERE api_key_fingerprint = ? "  # noqa: S608 - json_values is a fixed fragment
                f"AND owner_user_id NOT IN ({json_values(c.dialect, '?', 'BIGINT')}) "
                "GROUP BY owner_user_id ORDER BY owner_user_id",
                (fingerprint, encode_json(list(excluding))),
            )
        return {row["owner_user_id"]: row["n"] for row in rows}

    async def set_muted(
        self, link_id: str, muted: bool, *, conn: Connection | None = None
    ) -> bool:
        async with self._writing(conn) as c:
            changed = await c.execute(
                "UPDATE links SET muted = ? WHERE link_id = ?", (int(muted), link_id)
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
