"""How a link reads in a chat: its amount line, its methods, the QR card's caption.

Pure functions of a link and a translator, shared by the create flow, the dashboard and the
alerts, so a link looks the same everywhere.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

from bot.dates import format_relative, format_when
from bot.dgs.models import ALL_PAYMENT_TYPES, KIGALI, Link
from bot.i18n import Markup, Translator, escape
from bot.money import format_amount

TELEGRAM_CAPTION_LIMIT = 1024
# A wa.me link stays well under the ~2,000 characters browsers and Telegram's URL buttons take.
WHATSAPP_TITLE_CHARS = 100


def amount_line(link: Link, tr: Translator) -> str:
    """``RWF 50,000``, ``RWF 500 – 100,000``, ``from RWF 500`` or ``any amount (RWF)``: plain
    text (a button label), escaped by whoever puts it in HTML."""
    if link.is_fixed and link.amount is not None:
        return format_amount(link.amount, link.currency, tr.language)
    return range_words(link.min_amount, link.max_amount, link.currency, tr)


def range_words(low: Decimal | None, high: Decimal | None, currency: str, tr: Translator) -> str:
    """A flexible amount in words (plain text): the link card's and the form's summary's."""
    language = tr.language
    low_text = format_amount(low, currency, language) if low else None
    high_text = format_amount(high, currency, language) if high else None
    if low_text and high_text:
        return tr.plain("amount-range", low=low_text, high=high_text)
    if low_text:
        return tr.plain("amount-from", low=low_text)
    if high_text:
        return tr.plain("amount-up-to", high=high_text)
    return tr.plain("amount-any", currency=currency)


def methods_line(payment_types: list[str], tr: Translator) -> str:
    """The accepted methods in words; every method is spelled out, unknown ones as sent."""
    kinds = payment_types or [kind.value for kind in ALL_PAYMENT_TYPES]
    return ", ".join(tr(f"method-{kind}") if kind in _KNOWN_METHODS else kind for kind in kinds)


_KNOWN_METHODS = frozenset(kind.value for kind in ALL_PAYMENT_TYPES)


def uses_line(link: Link, tr: Translator) -> str:
    """``3 / 10 payments`` or ``3 payments``."""
    if link.max_uses is not None:
        return tr.plural("uses-of-max", link.max_uses, used=link.use_count)
    return tr.plural("uses-count", link.use_count)


def expiry_line(link: Link, tr: Translator, now: datetime | None = None) -> str | None:
    """``Expires 31 Dec 2026, 23:59 (in 2 days)`` or ``Expired …``; None without expiry."""
    if link.expires_at is None:
        return None
    now = now or datetime.now(KIGALI)
    when = format_when(link.expires_at, tr.language)
    relative = format_relative(link.expires_at, now, tr.language)
    key = "expires-on" if link.expires_at > now else "expired-on"
    return tr(key, when=when, relative=relative)


def qr_caption(link: Link, tr: Translator, now: datetime | None = None) -> str:
    """The QR card's caption (HTML): title, amount, methods, uses and expiry, URL."""
    lines = [
        f"<b>{escape(link.title)}</b>",
        escape(amount_line(link, tr)),
        tr("accepts", methods=methods_line(link.payment_types, tr)),
    ]
    if link.max_uses is not None:
        lines.append(uses_line(link, tr))
    expiry = expiry_line(link, tr, now)
    if expiry:
        lines.append(expiry)
    if link.url:
        lines.append(escape(link.url))
    caption = "\n".join(lines)
    if len(caption) > TELEGRAM_CAPTION_LIMIT:
        # Only a very long title can do this; the title is on the picture anyway.
        short_title = escape(link.title[:80] + "…")
        caption = "\n".join([f"<b>{short_title}</b>", *lines[1:]])[:TELEGRAM_CAPTION_LIMIT]
    return caption


def whatsapp_text(link: Link, tr: Translator) -> str:
    """What the vendor sends on WhatsApp (plain text, their language): title, amount, URL."""
    title = " ".join(link.title.split())
    if len(title) > WHATSAPP_TITLE_CHARS:
        title = title[: WHATSAPP_TITLE_CHARS - 1].rstrip() + "…"
    return tr.plain("share-whatsapp-text", title=title, amount=amount_line(link, tr), url=link.url)


def whatsapp_url(link: Link, tr: Translator) -> str:
    """WhatsApp's share link (``https://wa.me/?text=…``): it opens WhatsApp with the text ready
    and lets the vendor pick the chat. Every character is percent-encoded (UTF-8)."""
    return f"https://wa.me/?text={quote(whatsapp_text(link, tr), safe='')}"


def html(text: str) -> Markup:
    """Mark text we built ourselves from escaped parts as safe to pass as a parameter."""
    return Markup(text)
