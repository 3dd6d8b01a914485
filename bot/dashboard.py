"""The dashboard's data and how it reads: the user's links, a link card, the charges known.

- ``LinkLister`` reads every page of a key's links, newest first, records the ones the bot did
  not know (links made on the provider's dashboard) so that alerts cover them, and keeps the
  list for a few seconds so that paging and inline queries do not re-read every page.
- ``card_text`` is the link card (HTML), ``list_label`` a link's button on the list.
- ``known_charges`` merges the charges the bot has seen with the newest ones from a get call.

Pure of Telegram: handlers render what these return.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from babel.dates import format_datetime

from bot.cards import amount_line, expiry_line, methods_line, uses_line
from bot.dgs.client import DGSClient
from bot.dgs.models import KIGALI, Charge, ChargeStatus, Link, LinkDetails, LinkStatus
from bot.i18n import Translator, escape
from bot.linkservice import LinkService
from bot.money import babel_locale, format_amount
from bot.store.models import StoredCharge, StoredLink
from bot.store.repo import Repo
from bot.telegram_text import MESSAGE_LIMIT, shorten, shorten_plain

LIST_TTL_SECONDS = 30.0
LIST_CACHE_SIZE = 1024
CARD_TITLE_MAX = 200
PAYER_NAME_MAX = 40
BUTTON_TITLE_MAX = 28

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

    def forget(self, api_key: str) -> None:
        """The key's links changed (edit, archive): the next read goes to the provider."""
        self._cache.pop(self._repo.key_fingerprint(api_key), None)

    async def _learn(self, links: Sequence[Link], *, api_key: str, user_id: int) -> None:
        known = {stored.link_id: stored for stored in await self._repo.links_of_user(user_id)}
        for link in links:
            stored = known.get(link.id)
            if stored is not None and not _differs(stored, link):
                continue
            # Alerts go to the owner's private chat: the user id is that chat's id.
            await self._links.remember(
                link, api_key=api_key, owner_user_id=user_id, chat_id=user_id
            )


def _differs(stored: StoredLink, link: Link) -> bool:
    return (stored.title, stored.slug, stored.url, stored.currency, stored.status) != (
        link.title,
        link.slug,
        link.url,
        link.currency,
        link.status,
    )


# --- how links read ------------------------------------------------------------------------


def status_label(status: str, tr: Translator) -> str:
    """The link status in words; a status the contract does not name is shown as it is."""
    if status in _KNOWN_LINK_STATUSES:
        return tr(f"dash-status-{status}")
    return status


def list_label(link: Link, tr: Translator) -> str:
    """A link's button on the list: ``title · amount · status`` (plain text)."""
    title = shorten_plain(" ".join(link.title.split()) or "—", BUTTON_TITLE_MAX)
    return f"{title} · {amount_line(link, tr)} · {status_label(link.status, tr)}"


def charge_status_label(status: str, tr: Translator) -> str:
    icon = _CHARGE_ICONS.get(status)
    if icon is None:
        return status
    return f"{icon} {tr(f'card-charge-{status}')}"


def short_when(moment: datetime, language: str) -> str:
    """``29/11/2026 11:29`` in the language's short pattern, Kigali time."""
    text: str = format_datetime(
        moment.astimezone(KIGALI), format="short", locale=babel_locale(language)
    )
    return text


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
    lines.append(escape(amount_line(link, tr)))
    lines.append(tr("card-status", status=status_label(link.status, tr)))
    lines.append(uses_line(link, tr))
    expiry = expiry_line(link, tr, now)
    if expiry:
        lines.append(expiry)
    lines.append(tr("accepts", methods=methods_line(link.payment_types, tr)))
    if link.url:
        lines.append(escape(link.url))
    if link.status == LinkStatus.ARCHIVED:
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
