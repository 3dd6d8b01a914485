"""Small pieces every flow uses: building conversations, the key check, refusals in words."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any

from babel.numbers import format_decimal
from telegram import Update
from telegram.ext import ConversationHandler
from telegram.warnings import PTBUserWarning

from bot import money
from bot.cleaners import DraftError
from bot.context import BotContext
from bot.dgs.errors import ValidationFailedError
from bot.fields import refusal_label
from bot.i18n import LANGUAGE_NAMES, Markup, Translator, escape


def conversation(**kwargs: Any) -> ConversationHandler[BotContext]:
    """A ConversationHandler tracked per chat and user, not per message.

    PTB warns that with ``per_message=False`` a CallbackQueryHandler is not tracked for every
    message. That is the intent: a form's buttons belong to the user's conversation, and
    buttons of an old form are caught by their form id (``handlers/create/``).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message.*", category=PTBUserWarning)
        return ConversationHandler(**kwargs)


async def require_api_key(update: Update, context: BotContext) -> str | None:
    """The user's provider key, or None after telling them, in one line, to /connect."""
    user = update.effective_user
    if user is None:
        return None
    api_key = await context.services.accounts.api_key_for(user.id)
    if api_key is not None:
        return api_key
    text = context.tr("need-connect")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)
    return None


def draft_error_text(error: DraftError, currency: str, tr: Translator) -> str:
    """A refused answer in words (the form's and the editor's alike), amounts formatted."""
    params = dict(error.params)
    currency = currency or str(params.get("currency") or "")
    for name, value in params.items():
        if isinstance(value, Decimal):
            # Bounds of a range read as money; a plain limit (amount-too-large) as a number.
            params[name] = (
                money.format_amount(value, currency, tr.language)
                if currency and error.code == "draft-min-over-max"
                else format_decimal(value, locale=money.babel_locale(tr.language))
            )
    if error.code == "amount-too-precise":
        digits = int(params.get("digits", 0))
        if digits == 0:
            text = tr("amount-too-precise-none", currency=params.get("currency", currency))
        else:
            text = tr.plural("amount-too-precise", digits, **params)
    else:
        text = tr(error.code, **params)
    if error.code in _SEPARATOR_TROUBLE:
        # A refused amount is where "50.000" or "1,5" may have been read the other way.
        text = f"{text}\n{amount_rule(tr)}"
    return text


# Refusals of an amount that the separators may explain.
_SEPARATOR_TROUBLE = frozenset({"amount-not-a-number", "amount-too-precise", "amount-too-large"})


def provider_refusal_text(
    error: ValidationFailedError, tr: Translator, *, html: bool = True
) -> str:
    """A 422 in words: one line per refused field (our label, ``bot.fields``; the provider's
    own messages, as written: they are in English).
    ``html``: for a message sent as HTML (escaped); else for plain text such as an alert."""

    def as_is(text: str) -> Markup:
        return Markup(escape(text) if html else text)

    lines = [
        tr(
            "form-provider-refused-field",
            field=as_is(refusal_label(name, tr)),
            messages=as_is("; ".join(messages)),
        )
        for name, messages in error.field_errors.items()
    ] or [as_is(error.message)]
    return tr("form-provider-refused", errors=Markup("\n".join(lines)))


def typed_separators(language: str) -> tuple[str, str]:
    """(group, decimal) as a vendor types them: a no-break space is a plain one."""
    group, decimal = money.describe_separators(language)
    return group.replace("\u202f", " ").replace("\xa0", " "), decimal


def amount_rule(tr: Translator) -> str:
    """How the language's separators are read (``form-amount-rule``): shown only after an
    amount that reads two ways or a refused one, never on every question. A space is named
    (``espace``), never shown as empty-looking quotes."""
    group, decimal = typed_separators(tr.language)
    return tr(
        "form-amount-rule",
        language=LANGUAGE_NAMES[tr.language],
        group=_sign(group, tr),
        decimal=_sign(decimal, tr),
    )


def _sign(sign: str, tr: Translator) -> str:
    return tr("separator-space") if not sign.strip() else tr("separator-sign", sign=sign)
