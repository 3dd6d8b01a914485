"""Outbox rows → the text and buttons of one Telegram message, in the reader's language.

Pure: no Telegram types here (the sender turns ``Button`` rows into an inline keyboard), so
what a vendor reads can be tested without a bot. Texts are HTML; every value from the
provider or a payer goes through the translator's escaping or ``escape``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot import callbacks
from bot.button_labels import TWO_IN_ROW, cut, width
from bot.cards import methods_line, uses_line
from bot.dgs.models import Link, LinkStatus
from bot.i18n import Translator, escape
from bot.money import format_amount
from bot.notify.diff import Alert, Event, EventKind
from bot.telegram_text import shorten_plain

KIND_ALERT = "alert"
KIND_KEY_INVALID = "key_invalid"
KIND_GROUP_PAYMENT = "group_payment"  # a payment on a group's plain link, told in the group
KIND_DRIVE_MILESTONE = "drive_milestone"  # 25/50/75/100 % of a drive's goal, once each
# Rows of these kinds for one chat become one message when they wait together.
MERGEABLE_KINDS = frozenset({KIND_ALERT, KIND_GROUP_PAYMENT})
TELEGRAM_TEXT_LIMIT = 4096
# A name in a group line stays short; and what a payer typed as their name may be their
# phone number or email, which is never posted in a group.
_GROUP_NAME_CHARS = 40
_CONTACT_LIKE = re.compile(r"@|://|www\.|(?:\d\D{0,2}){5}", re.IGNORECASE)
_STATUS_KEYS: Mapping[str, str] = {
    LinkStatus.EXPIRED: "alert-expired",
    LinkStatus.COMPLETED: "alert-completed",
    LinkStatus.ARCHIVED: "alert-archived",
}


@dataclass(frozen=True, slots=True)
class Button:
    text: str  # plain text, not HTML
    data: str  # callback data ("" for the two kinds below)
    url: str | None = None  # a URL button (WhatsApp's share)
    inline_query: str | None = None  # Telegram's Share: switch_inline_query


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str  # HTML
    buttons: tuple[tuple[Button, ...], ...] = ()


def render_row(
    kind: str, payload: Mapping[str, Any], tr: Translator, *, named: bool = False
) -> Rendered:
    """One outbox row; ``named``: the link card button carries the link's title (merged)."""
    if kind == KIND_ALERT:
        return render_alert(Alert.from_payload(payload), tr, named=named)
    if kind == KIND_KEY_INVALID:
        return Rendered(tr("notify-key-invalid", last4=str(payload.get("last4", ""))))
    if kind == KIND_GROUP_PAYMENT:
        return render_group_payment(payload, tr)
    if kind == KIND_DRIVE_MILESTONE:
        return render_milestone(payload, tr)
    # Issue 17's reminders and daily totals render in their own module, which builds on this
    # one's Button and Rendered (hence imported here, when first needed).
    from bot.notify.digest import DIGEST_KINDS, render_digest

    if kind in DIGEST_KINDS:
        return render_digest(kind, payload, tr)
    raise ValueError(f"unknown outbox kind {kind!r}")


def merge(parts: Sequence[Rendered]) -> Rendered:
    """Several messages for one chat as one: texts one after the other, all their buttons."""
    if len(parts) == 1:
        return parts[0]
    return Rendered(
        "\n\n".join(part.text for part in parts),
        tuple(row for part in parts for row in part.buttons),
    )


def render_alert(alert: Alert, tr: Translator, *, named: bool = False) -> Rendered:
    by_kind: dict[EventKind, list[Event]] = {}
    for event in alert.events:
        by_kind.setdefault(event.kind, []).append(event)
    sections = [
        section
        for section in (
            _payments(alert, by_kind, tr),
            _failures(alert, by_kind, tr),
            *(_pending(alert, event, tr) for event in by_kind.get(EventKind.PENDING, [])),
            *(_status(alert, event, tr) for event in by_kind.get(EventKind.STATUS, [])),
        )
        if section
    ]
    return Rendered("\n\n".join(sections), _buttons(alert, by_kind, tr, named=named))


def _money(amount: Decimal | None, currency: str, tr: Translator) -> str:
    return format_amount(amount if amount is not None else Decimal(0), currency, tr.language)


def _details(event: Event, tr: Translator) -> str:
    """``Aline · Mobile money``: who paid and how, as far as the provider said."""
    parts = []
    if event.payer_name:
        parts.append(event.payer_name.strip())
    if event.payment_type:
        parts.append(methods_line([event.payment_type], tr))
    return " · ".join(part for part in parts if part)


def _item(event: Event, currency: str, tr: Translator) -> str:
    amount = _money(event.amount, event.currency or currency, tr)
    details = _details(event, tr)
    return escape(f"• {amount} — {details}" if details else f"• {amount}")


def _payments(alert: Alert, by_kind: Mapping[EventKind, list[Event]], tr: Translator) -> str:
    link = alert.link
    payments = by_kind.get(EventKind.PAYMENT, [])
    more = by_kind.get(EventKind.MORE_PAYMENTS, [])
    if not payments and not more:
        return ""
    more_count = sum(event.count for event in more)
    lines: list[str] = []
    if len(payments) == 1 and not more_count:
        payment = payments[0]
        amount = _money(payment.amount, payment.currency or link.currency, tr)
        lines.append(tr("alert-payment", amount=amount, title=link.title))
        details = _details(payment, tr)
        if details:
            lines.append(escape(details))
    else:
        count = len(payments) + more_count
        lines.append(tr.plural("alert-payments", count, title=link.title))
        lines.extend(_item(event, link.currency, tr) for event in payments)
        for event in more:
            if event.amount is not None:
                amount = _money(event.amount, event.currency or link.currency, tr)
                lines.append(tr.plural("alert-more-payments", event.count, amount=amount))
            else:
                lines.append(tr.plural("alert-more-payments-no-amount", event.count))
    lines.append(
        tr(
            "alert-totals",
            uses=uses_line(_as_link(alert), tr),
            total=_money(link.total_collected, link.currency, tr),
        )
    )
    return "\n".join(lines)


def _failures(alert: Alert, by_kind: Mapping[EventKind, list[Event]], tr: Translator) -> str:
    link = alert.link
    failed = by_kind.get(EventKind.FAILED, [])
    more_count = sum(event.count for event in by_kind.get(EventKind.MORE_FAILED, []))
    if not failed and not more_count:
        return ""
    if len(failed) == 1 and not more_count:
        event = failed[0]
        amount = _money(event.amount, event.currency or link.currency, tr)
        lines = [tr("alert-failed", amount=amount, title=link.title)]
        details = _details(event, tr)
        if details:
            lines.append(escape(details))
        return "\n".join([*lines, *_retry_hint(failed, more_count, tr)])
    lines = [tr.plural("alert-failed-many", len(failed) + more_count, title=link.title)]
    lines.extend(_item(event, link.currency, tr) for event in failed)
    if more_count and failed:
        lines.append(tr.plural("alert-more-failed", more_count))
    return "\n".join([*lines, *_retry_hint(failed, more_count, tr)])


def _retry_hint(failed: Sequence[Event], more_count: int, tr: Translator) -> list[str]:
    """ "Payers often try again" is true of mobile money (a prompt timed out, a PIN mistyped),
    not of a card or a bank transfer: said only when every failure told was mobile money."""
    methods = {event.payment_type for event in failed}
    if more_count or methods != {"mobile_money"}:
        return []
    return [tr("alert-failed-retry-mobile-money")]


def _pending(alert: Alert, event: Event, tr: Translator) -> str:
    link = alert.link
    amount = _money(event.amount, event.currency or link.currency, tr)
    text = tr.plural("alert-pending", event.minutes or 0, amount=amount, title=link.title)
    details = _details(event, tr)
    return f"{text}\n{escape(details)}" if details else text


def _status(alert: Alert, event: Event, tr: Translator) -> str:
    key = _STATUS_KEYS.get(event.status or "")
    return tr(key, title=alert.link.title) if key else ""


def _buttons(
    alert: Alert, by_kind: Mapping[EventKind, list[Event]], tr: Translator, *, named: bool
) -> tuple[tuple[Button, ...], ...]:
    link_id = alert.link.link_id
    if named:
        # Beside Mute or above the actions: the title is cut to a half row's width.
        short = cut(alert.link.title, TWO_IN_ROW - width("📇 "))
        card = Button(f"📇 {short}", callbacks.data(callbacks.LINK_CARD, link_id))
    else:
        card = Button(tr("alert-button-card"), callbacks.data(callbacks.LINK_CARD, link_id))
    statuses = {event.status for event in by_kind.get(EventKind.STATUS, [])}
    receipts = _receipt_rows(alert, by_kind.get(EventKind.PAYMENT, []), tr)
    if not statuses:
        # Alerts of a link still taking payments can be silenced from right here.
        mute = Button(tr("alert-button-mute"), callbacks.data(callbacks.MUTE, link_id))
        return ((card, mute), *receipts)
    actions: list[Button] = []
    if LinkStatus.EXPIRED in statuses:
        actions.append(
            Button(tr("alert-button-extend"), callbacks.data(callbacks.EXTEND, link_id))
        )
    if LinkStatus.COMPLETED in statuses:
        actions.append(
            Button(tr("alert-button-reopen"), callbacks.data(callbacks.REOPEN, link_id))
        )
    actions.append(
        Button(tr("alert-button-duplicate"), callbacks.data(callbacks.DUPLICATE, link_id))
    )
    return ((card,), tuple(actions), *receipts)


# At most this many Receipt buttons under one alert; the card lists every payment anyway.
RECEIPTS_PER_ALERT = 3


def receipt_data(link_id: str, charge_id: str) -> str:
    """``rc:<link id>:<charge id>``, the charge id cut to fit Telegram's 64 bytes: the press
    finds the charge among the link's by that start (a UUID's first 24 characters)."""
    head = f"{callbacks.RECEIPT}{link_id}:"
    room = 64 - len(head.encode())
    return callbacks.data(
        callbacks.RECEIPT, f"{link_id}:{charge_id.encode()[:room].decode(errors='ignore')}"
    )


def _receipt_rows(
    alert: Alert, payments: Sequence[Event], tr: Translator
) -> tuple[tuple[Button, ...], ...]:
    """Issue 17: a Receipt button for each payment told (one a row); named by its amount when
    the alert tells several."""
    paid = [event for event in payments if event.charge_id][:RECEIPTS_PER_ALERT]
    if len(f"{callbacks.RECEIPT}{alert.link.link_id}:".encode()) > 56:
        return ()  # no room left for the charge: a link id far longer than a UUID
    if len(paid) == 1:
        only = paid[0]
        assert only.charge_id is not None
        return (
            (
                Button(
                    tr("alert-button-receipt"), receipt_data(alert.link.link_id, only.charge_id)
                ),
            ),
        )
    rows = []
    for event in paid:
        assert event.charge_id is not None
        amount = _money(event.amount, event.currency or alert.link.currency, tr)
        label = tr.plain("alert-button-receipt-amount", amount=amount)
        rows.append((Button(label, receipt_data(alert.link.link_id, event.charge_id)),))
    return tuple(rows)


def _as_link(alert: Alert) -> Link:
    facts = alert.link
    return Link(
        id=facts.link_id,
        title=facts.title,
        currency=facts.currency,
        status=facts.status,
        use_count=facts.use_count,
        max_uses=facts.max_uses,
    )


def render_group_payment(payload: Mapping[str, Any], tr: Translator) -> Rendered:
    """One line per payment for the group: who (when they gave a name and the group shows
    names), how much, on which link. No buttons: members only read."""
    alert = Alert.from_payload(payload)
    anonymous = bool(payload.get("anonymous"))
    lines = []
    for event in alert.events:
        if event.kind is not EventKind.PAYMENT or event.amount is None:
            continue
        amount = _money(event.amount, event.currency or alert.link.currency, tr)
        name = None if anonymous else group_name(event.payer_name)
        if name:
            lines.append(tr("group-paid-by", name=name, amount=amount, title=alert.link.title))
        else:
            lines.append(tr("group-paid", amount=amount, title=alert.link.title))
    return Rendered("\n".join(lines) or tr("group-paid-some", title=alert.link.title))


def group_name(payer_name: str | None) -> str | None:
    """The payer's name as a group may read it: None when they gave none, or when what they
    typed looks like a phone number, an email or a web address."""
    name = " ".join((payer_name or "").split())
    if not name or _CONTACT_LIKE.search(name):
        return None
    return shorten_plain(name, _GROUP_NAME_CHARS)


def render_milestone(payload: Mapping[str, Any], tr: Translator) -> Rendered:
    percent = int(payload.get("percent", 0))
    title = str(payload.get("title") or "")
    if percent >= 100:
        return Rendered(tr("drive-milestone-goal", title=title))
    return Rendered(tr("drive-milestone", title=title, percent=percent))
