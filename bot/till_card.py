"""How the till's QR message reads (issue 17, point 3): waiting for the customer's payment,
then paid; shared by the till's handler and the notifier job that marks it paid."""

from __future__ import annotations

from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callbacks
from bot.i18n import Translator
from bot.money import format_amount


def waiting_caption(amount: Decimal, currency: str, tr: Translator) -> str:
    return tr("till-waiting", amount=format_amount(amount, currency, tr.language))


def paid_caption(amount: Decimal, currency: str, payer_name: str | None, tr: Translator) -> str:
    """ "✅ Paid: RWF 5,000 by Aline": the payer's name only, never their phone or email."""
    shown = format_amount(amount, currency, tr.language)
    name = " ".join((payer_name or "").split())
    if name:
        return tr("till-paid-by", amount=shown, name=name)
    return tr("till-paid", amount=shown)


def next_customer_keyboard(owner: int, tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(tr("till-next"), callback_data=f"{callbacks.TILL}{owner}:n")]]
    )
