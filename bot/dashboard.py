"""The dashboard's data and how it reads: the user's links, a link card, the charges known.

- ``LinkLister`` reads every page of a key's links, newest first, records the ones the bot did
  not know (links made on the provider's dashboard) so that alerts cover them, and keeps the
  list for a few seconds so that paging and inline queries do not re-read every page.
- ``card_text`` is the link card (HTML), ``list_label`` a link's button on the list.
- ``known_charges`` merges the charges the bot has seen with the newest ones from a get call;
  ``LinkLister.charges`` is every charge known of a link.
- ``LinkLister.details`` gives every listed link's details for ``/export``: the poller's stored
  snapshots where they are in step with the list, a get call (a few at a time) for the rest.

Pure of Telegram: handlers render what these return.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from babel.dates import format_skeleton

from bot.cards import amount_line
from bot.dates import format_when
from bot.dgs.client import DGSClient
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, Charge, ChargeStatus, Link, LinkDetails, LinkStatus
from bot.fields import card_fields
from bot.i18n import Translator, escape
from bot.linkservice import LinkService, out_of_step
from bot.money import babel_locale, format_amount
from bot.store.models import StoredCharge, StoredLink
from bot.store.repo import Repo
from bot.telegram_text import MESSAGE_LIMIT, shorten, shorten_plain

log = logging.getLogger(__name__)

LIST_TTL_SECONDS = 30.0
# An export's stale links are one get call each; a few at a time (the client paces each key).
PARALLEL_GETS: Final = 4
LIST_CACHE_SIZE = 1024
CARD_TITLE_MAX = 200
PAYER_NAME_MAX = 40
BUTTON_TITLE_MAX = 28
ROW_LABEL_MAX = 30  # a one-button row on a phone

_EPOCH = datetime.min.replace(tzinfo=KIGALI)
_KNOWN_LINK_STATUSES = frozenset(status.value for status in LinkStatus)
_CHARGE_ICONS = {
    ChargeStatus.SUCCESS.value: "✅",
    ChargeStatus.PENDING.value: "⏳",
    ChargeStatus.FAILED.value: "❌",
}


def newest_first(links: Sequence[Link]) -> list[Link]:
    """By creation time, newest first; ties (and unknown times, last) keep the given order."""
    return sorted(links, key=lambda link: link.created_at or _EPOCH, reverse=True)


@dataclass
class _Cached:
    at: float
    links: list[Link]


class LinkLister:
    """Every link of a key, newest first, learning the ones the bot has not recorded yet."""

    def __init__(
        self,
        dgs: DGSClient,
        repo: Repo,
        links: LinkService,
        *,
        ttl: float = LIST_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dgs = dgs
        self._repo = repo
        self._links = links
        self._ttl = ttl
        self._clock = clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        links.on_change(self.forget)  # an edit or an archive: the list is read afresh

    async def links(self, api_key: str, *, user_id: int, fresh: bool = False) -> list[Link]:
        """All the key's links (archived included), newest first.

        ``fresh`` reads the provider even when a recent list is at hand.
        """
        fingerprint = self._repo.key_fingerprint(api_key)
        cached = self._cache.get(fingerprint)
        if (
            cached is not None
            and not fresh
            and self._clock() - cached.at < self._ttl
            and await self._covers(cached, user_id)
        ):
            self._cache.move_to_end(fingerprint)
            return list(cached.links)
        found = [link async for link in self._dgs.iter_links(api_key)]
        ordered = newest_first(found)
        await self._learn(ordered, api_key=api_key, user_id=user_id)
        self._cache[fingerprint] = _Cached(self._clock(), ordered)
        self._cache.move_to_end(fingerprint)
        while len(self._cache) > LIST_CACHE_SIZE:
            self._cache.popitem(last=False)
        return list(ordered)

    async def _covers(self, cached: _Cached, user_id: int) -> bool:
        """Whether the kept list holds every link the bot has recorded for the user: a link
        made a moment ago (/new, then Share) must not be missing from it."""
        listed = {link.id for link in cached.links}
        return all(stored.link_id in listed for stored in await self._repo.links_of_user(user_id))

    async def collected(self, user_id: int, links: Sequence[Link]) -> dict[str, Decimal]:
        """What each link has collected, by id, for the links whose stored snapshot is in
        step with the list (the others' totals would need a get call each: left out)."""
        return await _collected_of(self._repo, user_id, links)

    def forget(self, api_key: str) -> None:
        """The key's links changed (edit, archive): the next read goes to the provider."""
        self._cache.pop(self._repo.key_fingerprint(api_key), None)

    async def charges(self, details: LinkDetails) -> list[Charge]:
        """Every charge known of the link (``details`` from a get call just made)."""
        seen = await self._repo.charges_of(details.link.id)
        return known_charges(details.recent_charges, seen)

    async def details(
        self,
        api_key: str,
        user_id: int,
        links: Sequence[Link],
        *,
        progress: Callable[[int, int], Awaitable[None]],
        running: Callable[[], bool],
    ) -> list[LinkDetails]:
        """Every link's details, in the order given: the fresh stored ones, a get call for
        the rest. ``progress(done, total)`` after each; ``StoppingError`` once ``running()``
        is False. The first provider failure stops the others and is raised."""
        stored = {row.link_id: row for row in await self._repo.links_of_user(user_id)}
        found: dict[str, LinkDetails] = {}
        stale: list[Link] = []
        for link in links:
            details = fresh_snapshot(stored.get(link.id), link)
            if details is None:
                stale.append(link)
            else:
                found[link.id] = details
        log.debug("export for user %s: %d stored, %d to fetch", user_id, len(found), len(stale))
        await progress(len(found), len(links))
        gate = asyncio.Semaphore(PARALLEL_GETS)

        async def one(link: Link) -> None:
            async with gate:
                if not running():
                    raise StoppingError
                found[link.id] = await self._dgs.get_link(api_key, link.id)
            await progress(len(found), len(links))

        try:
            async with asyncio.TaskGroup() as group:
                for link in stale:
                    group.create_task(one(link))
        except* DGSError as failures:
            raise failures.exceptions[0] from None
        except* StoppingError:
            raise StoppingError from None
        return [found[link.id] for link in links]

    async def _learn(self, links: Sequence[Link], *, api_key: str, user_id: int) -> None:
        known = {stored.link_id: stored for stored in await self._repo.links_of_user(user_id)}
        for link in links:
            stored = known.get(link.id)
            if stored is not None and not out_of_step(stored, link):
                continue
            # Alerts go to the owner's private chat: the user id is that chat's id.
            await self._links.remember(
                link, api_key=api_key, owner_user_id=user_id, chat_id=user_id
            )


class StoppingError(Exception):
    """The bot is stopping: an export gives up rather than hold the stop for minutes."""


async def _collected_of(repo: Repo, user_id: int, links: Sequence[Link]) -> dict[str, Decimal]:
    stored = {row.link_id: row for row in await repo.links_of_user(user_id)}
    found: dict[str, Decimal] = {}
    for link in links:
        details = fresh_snapshot(stored.get(link.id), link)
        if details is not None:
            found[link.id] = details.stats.total_collected
    return found


def fresh_snapshot(stored: StoredLink | None, link: Link) -> LinkDetails | None:
    """The stored details of ``link`` if they can stand for a get call now."""
    if stored is None or stored.snapshot is None:
        return None
    seen = stored.snapshot.link
    if (seen.status, seen.use_count) != (link.status, link.use_count):
        return None  # the list shows a change the poller has not stored yet
    if stored.snapshot.stats.pending_charges:
        return None  # a pending charge may have settled since (use_count does not say)
    return LinkDetails(link=link, stats=stored.snapshot.stats)


# --- how links read ------------------------------------------------------------------------


def status_label(status: str, tr: Translator) -> str:
    """The link status in words; a status the contract does not name is shown as it is."""
    if status in _KNOWN_LINK_STATUSES:
        return tr(f"dash-status-{status}")
    return status


TITLE_ROOM_MIN = 8  # a list row keeps at least this much of its title


def list_label(
    link: Link, tr: Translator, *, collected: Decimal | None = None, twin: bool = False
) -> str:
    """A link's button on the list: ``Juice · 3 paid · RWF 15,000`` (plain text), the status
    when not active, the creation day when another link has the same title (``twin``); the
    title is cut so the whole label fits a phone's row (``ROW_LABEL_MAX``)."""
    if link.use_count and collected is not None:
        money = format_amount(collected, link.currency, tr.language)
        paid = tr.plural("dash-row-paid-money", link.use_count, amount=money)
    elif link.use_count:
        paid = tr.plural("dash-row-paid", link.use_count)
    else:
        # Nothing paid yet: what it asks for, cut when its words are long (Kinyarwanda's
        # "any amount"), so that the title keeps its room and the row fits a phone.
        paid = shorten_plain(amount_line(link, tr), ROW_LABEL_MAX - TITLE_ROOM_MIN - 3)
    rest = [paid]
    if link.status != LinkStatus.ACTIVE:
        rest.append(status_label(link.status, tr))
    title = " ".join(link.title.split()) or "—"
    if twin and link.created_at is not None:
        day = format_skeleton("dMMM", link.created_at, locale=babel_locale(tr.language))
        title = f"{title} {day}"
    tail = " · " + " · ".join(rest)
    room = max(ROW_LABEL_MAX - len(tail), TITLE_ROOM_MIN)
    return shorten_plain(title, min(room, BUTTON_TITLE_MAX)) + tail


def charge_status_label(status: str, tr: Translator) -> str:
    icon = _CHARGE_ICONS.get(status)
    if icon is None:
        return status
    return f"{icon} {tr(f'card-charge-{status}')}"


def short_when(moment: datetime, language: str) -> str:
    """``29 Nov 2026, 11:29``: the one date form (``bot.dates``), never ``11/29/26``."""
    return format_when(moment, language)


def charge_line(charge: Charge, tr: Translator) -> str:
    """``• $25.50 · ✅ paid · 29/11/2026 11:29 · Jean`` (HTML)."""
    parts = [
        format_amount(charge.amount, charge.currency, tr.language),
        charge_status_label(charge.status, tr),
    ]
    if charge.created_at is not None:
        parts.append(short_when(charge.created_at, tr.language))
    if charge.payer_name and charge.payer_name.strip():
        parts.append(shorten_plain(" ".join(charge.payer_name.split()), PAYER_NAME_MAX))
    return "• " + escape(" · ".join(parts))


def card_text(
    details: LinkDetails,
    tr: Translator,
    *,
    muted: bool = False,
    notice: str | None = None,
    now: datetime | None = None,
) -> str:
    """The link card (HTML): the link, its stats and its recent charges, within 4096."""
    link, stats = details.link, details.stats
    lines: list[str] = []
    if notice:
        lines += [notice, ""]
    lines.append(f"<b>{escape(shorten_plain(link.title or '—', CARD_TITLE_MAX))}</b>")
    archived = link.status == LinkStatus.ARCHIVED
    for spec in card_fields():  # each field's line, from the registry (bot/fields.py)
        line = spec.card(link, tr, now) if spec.card is not None else None
        if line:
            lines.append(line)
        if spec.name == "amount" and not archived:
            # The status reads right under the amount. An archived card says "archived"
            # once: in the notice, else in its note.
            lines.append(tr("card-status", status=status_label(link.status, tr)))
    if link.url:
        lines.append(escape(link.url))
    if archived:
        if not notice:
            lines.append(tr("card-archived-note"))
    elif muted:
        lines.append(tr("card-muted-note"))
    currency = stats.currency or link.currency
    lines += [
        "",
        " · ".join(
            [
                tr.plural("card-paid", stats.successful_charges),
                tr.plural("card-pending", stats.pending_charges),
                tr.plural("card-failed", stats.failed_charges),
            ]
        ),
        tr(
            "card-collected",
            amount=format_amount(stats.total_collected, currency, tr.language),
        ),
    ]
    if details.recent_charges:
        lines += ["", tr("card-recent")]
        lines += [charge_line(charge, tr) for charge in details.recent_charges]
    else:
        lines.append(tr("card-no-charges"))
    return shorten("\n".join(lines), MESSAGE_LIMIT)


# --- charges -------------------------------------------------------------------------------


def _from_store(charge: StoredCharge) -> Charge:
    return Charge(
        id=charge.charge_id,
        amount=charge.amount,
        currency=charge.currency,
        status=charge.status,
        created_at=(charge.created_at or charge.first_seen_at).astimezone(KIGALI),
        payment_type=charge.payment_type,
        payer_name=charge.payer_name,
    )


def known_charges(recent: Sequence[Charge], seen: Sequence[StoredCharge]) -> list[Charge]:
    """The provider's newest charges plus the older ones the bot has seen, newest first.

    The provider's copy of a charge wins: its status is the current one.
    """
    by_id: dict[str, Charge] = {charge.charge_id: _from_store(charge) for charge in seen}
    for charge in recent:
        by_id[charge.id] = charge
    return sorted(by_id.values(), key=lambda charge: charge.created_at or _EPOCH, reverse=True)


def collected_total(charges: Sequence[Charge]) -> Decimal:
    return sum(
        (charge.amount for charge in charges if charge.status == ChargeStatus.SUCCESS),
        Decimal(0),
    )
