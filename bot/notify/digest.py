"""What the reminders and the daily totals say (issue 17, points 4 and 5): outbox payloads →
``Rendered`` messages, in the reader's language. Pure, like ``messages.py``.

- ``reminder``: to the vendor, with **Share** (Telegram's inline share of the link),
  **WhatsApp** and the link card; ``reminder_forward`` right after it: the customer's
  message (title, amount, address) and nothing else, so it can be forwarded as it is.
- ``daily``: the day's payments, the total per currency, the best link, and yesterday.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date

from bot import callbacks
from bot.cards import whatsapp_url
from bot.dgs.models import AmountType, Link
from bot.i18n import Translator, escape
from bot.money import babel_locale, format_amount
from bot.notify.messages import Button, Rendered
from bot.store.daily import Success

KIND_REMINDER = "reminder"
KIND_REMINDER_FORWARD = "reminder_forward"
KIND_DAILY = "daily"
DIGEST_KINDS = frozenset({KIND_REMINDER, KIND_REMINDER_FORWARD, KIND_DAILY})


# --- reminders -------------------------------------------------------------------------------


def reminder_payload(
    link_id: str, title: str, amount: Decimal, currency: str, url: str | None, slug: str | None
) -> dict[str, Any]:
    return {
        "link_id": link_id,
        "title": title,
        "amount": str(amount),
        "currency": currency,
        "url": url,
        "slug": slug,
    }


def _invoice(payload: Mapping[str, Any]) -> Link:
    return Link(
        id=str(payload["link_id"]),
        title=str(payload.get("title") or ""),
        amount_type=AmountType.FIXED,
        amount=Decimal(str(payload["amount"])),
        currency=str(payload.get("currency") or ""),
        url=payload.get("url"),
        slug=payload.get("slug"),
        max_uses=1,
    )


def render_reminder(payload: Mapping[str, Any], tr: Translator) -> Rendered:
    link = _invoice(payload)
    amount = format_amount(link.amount or Decimal(0), link.currency, tr.language)
    text = tr("reminder-unpaid", title=link.title, amount=amount)
    share = Button(tr.plain("button-share"), "", inline_query=link.slug or link.title[:64])
    first: tuple[Button, ...] = (share,)
    if link.url:
        first = (share, Button(tr.plain("card-whatsapp"), "", url=whatsapp_url(link, tr)))
    card = Button(tr.plain("alert-button-card"), callbacks.data(callbacks.LINK_CARD, link.id))
    return Rendered(text, (first, (card,)))


def render_reminder_forward(payload: Mapping[str, Any], tr: Translator) -> Rendered:
    link = _invoice(payload)
    amount = format_amount(link.amount or Decimal(0), link.currency, tr.language)
    title = " ".join(link.title.split())
    return Rendered(
        escape(tr.plain("share-whatsapp-text", title=title, amount=amount, url=link.url or ""))
    )


# --- daily totals ----------------------------------------------------------------------------


def _totals(successes: Sequence[Success]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for success in successes:
        totals[success.currency] = totals.get(success.currency, Decimal(0)) + success.amount
    return totals


def _best(successes: Sequence[Success]) -> dict[str, str] | None:
    """The link that took the most money in the day's main currency (the one most payments
    were in); a tie goes to the link paid more often."""
    if not successes:
        return None
    counts: dict[str, int] = {}
    for success in successes:
        counts[success.currency] = counts.get(success.currency, 0) + 1
    main = max(counts, key=lambda currency: (counts[currency], currency))
    by_link: dict[str, tuple[Decimal, int, str]] = {}
    for success in successes:
        if success.currency != main:
            continue
        total, count, _ = by_link.get(success.link_id, (Decimal(0), 0, success.title))
        by_link[success.link_id] = (total + success.amount, count + 1, success.title)
    total, _count, title = max(by_link.values(), key=lambda item: (item[0], item[1]))
    return {"title": title, "total": str(total), "currency": main}


def daily_payload(
    day: str, today: Sequence[Success], yesterday: Sequence[Success]
) -> dict[str, Any]:
    """What the day's message says, fixed when it is queued (a retry says the same)."""
    return {
        "day": day,
        "count": len(today),
        "totals": {currency: str(total) for currency, total in _totals(today).items()},
        "best": _best(today),
        "yesterday_count": len(yesterday),
        "yesterday_totals": {
            currency: str(total) for currency, total in _totals(yesterday).items()
        },
    }


def _money_list(totals: Mapping[str, Any], tr: Translator) -> str:
    return " · ".join(
        format_amount(Decimal(str(amount)), currency, tr.language)
        for currency, amount in sorted(totals.items())
    )


def format_day(day: str, language: str) -> str:
    """``4 December``: the day a summary tells (the month written out, as every language
    reads it; the year goes without saying)."""
    return str(format_date(date.fromisoformat(day), "d MMMM", locale=babel_locale(language)))


def render_daily(payload: Mapping[str, Any], tr: Translator) -> Rendered:
    day = format_day(str(payload["day"]), tr.language)
    count = int(payload.get("count", 0))
    lines = []
    if count:
        lines.append(tr.plural("daily-payments", count, day=day))
        lines.append(tr("daily-total", total=_money_list(payload.get("totals") or {}, tr)))
        best = payload.get("best")
        if best:
            total = format_amount(Decimal(str(best["total"])), str(best["currency"]), tr.language)
            lines.append(tr("daily-best", title=str(best["title"]), total=total))
    else:
        lines.append(tr("daily-none", day=day))
    before = int(payload.get("yesterday_count", 0))
    if before:
        totals = _money_list(payload.get("yesterday_totals") or {}, tr)
        lines.append(tr.plural("daily-yesterday", before, total=totals))
    else:
        lines.append(tr("daily-yesterday-none"))
    settings = Button(tr.plain("daily-button-settings"), callbacks.DAILY_MENU)
    return Rendered("\n".join(lines), ((settings,),))


def render_digest(kind: str, payload: Mapping[str, Any], tr: Translator) -> Rendered:
    if kind == KIND_REMINDER:
        return render_reminder(payload, tr)
    if kind == KIND_REMINDER_FORWARD:
        return render_reminder_forward(payload, tr)
    return render_daily(payload, tr)
