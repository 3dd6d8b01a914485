"""The last handler of group 0: a message no flow took still gets an answer.

An amount (``5k``, ``50 000 RWF``, read in the user's language by ``bot.money``) is offered as
a link: the very next message (or a reply to the offer) is its name, or **Payer chooses**
makes it at once, the typed amount as the least a payer gives. Anything else gets a two-line
hint with the /start buttons. In a group the bot stays quiet unless it is addressed (a reply
to one of its messages, or its @name).

It only sees what every flow before it let through: a form's answers, the editor's typed value
and a pending /connect's key are all taken earlier in group 0.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot import callbacks, money
from bot.cleaners import DraftError, clean_title
from bot.context import BotContext
from bot.dgs.models import AmountType
from bot.links import LinkDraft
from handlers.common import draft_error_text
from handlers.create.quick import make_link
from handlers.start import start_keyboard

# user_data key of the pending offer; how long its name may take.
OFFER = "offer"
OFFER_SECONDS = 3600


def fallback_handlers() -> list[
    MessageHandler[BotContext, None] | CallbackQueryHandler[BotContext, None]
]:
    messages = filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL
    return [
        CallbackQueryHandler(payer_chooses, pattern=f"^{callbacks.OFFER}"),
        MessageHandler(messages, answer),
    ]


async def answer(update: Update, context: BotContext) -> None:
    """Whatever no flow took: a name for the pending offer, an offer, or the hint."""
    message = update.message
    chat = update.effective_chat
    user = update.effective_user
    if message is None or chat is None or user is None or message.via_bot is not None:
        return
    if chat.type != ChatType.PRIVATE:
        if _addressed(message, context.bot.username):
            await message.reply_text(context.tr("fallback-group"))
        return
    text = (message.text or "").strip()
    if not text or text.startswith("/"):
        await _hint(message, context)
        return
    amount = await _amount(message, context, text)
    if isinstance(amount, str):  # an amount that cannot be: said why
        await message.reply_text(amount)
        return
    if amount is not None:
        await _offer(message, context, *amount)
        return
    offer = _pending(context, message)
    if offer is None:
        await _hint(message, context)
        return
    try:
        title = clean_title(text)
    except DraftError as error:
        await message.reply_text(draft_error_text(error, offer["currency"], context.tr))
        return
    context.user_data.pop(OFFER, None)  # type: ignore[union-attr]
    draft = LinkDraft(
        kind=AmountType.FIXED,
        title=title,
        currency=offer["currency"],
        amount=Decimal(offer["amount"]),
    )
    await make_link(update, context, draft)


async def payer_chooses(update: Update, context: BotContext) -> None:
    """**Payer chooses** on an offer: a link where the payer types the amount, at least the
    offered one. Only the user the offer was made to holds it (their own ``user_data``)."""
    query = update.callback_query
    if query is None:
        return
    offer = (context.user_data or {}).get(OFFER)
    offer_id = callbacks.link_id_of(callbacks.OFFER, query.data or "")
    if not isinstance(offer, dict) or offer.get("id") != offer_id or _expired(offer):
        await query.answer(context.tr("offer-closed"), show_alert=True)
        return
    await query.answer()
    context.user_data.pop(OFFER, None)  # type: ignore[union-attr]
    draft = LinkDraft(
        kind=AmountType.FLEXIBLE,
        title=context.tr.plain("offer-title"),
        currency=offer["currency"],
        min_amount=Decimal(offer["amount"]),
    )
    await make_link(update, context, draft)


# --- pieces -----------------------------------------------------------------------------------


async def _amount(
    message: Message, context: BotContext, text: str
) -> tuple[Decimal, str] | str | None:
    """The amount ``text`` names, in the user's currency (or the one typed with it); None when
    it is no amount; why not, in words, for an amount that cannot be (``0``, ``5.5`` RWF)."""
    users = context.services.users
    assert message.from_user is not None
    currency = users.currency_of(await users.seen(message.from_user.id))
    language = context.tr.language
    try:
        return money.parse_amount(text, currency, language), currency
    except money.AmountError as error:
        if error.code == "amount-not-a-number":
            return None
        given = str(error.params.get("given", ""))
        if error.code == "amount-currency-mismatch" and money.is_known_currency(given):
            try:
                return money.parse_amount(text, given, language), given
            except money.AmountError as again:
                error = again
        refusal = DraftError("amount", error.code, **error.params)
        return draft_error_text(refusal, currency, context.tr)


async def _offer(message: Message, context: BotContext, amount: Decimal, currency: str) -> None:
    tr = context.tr
    offer_id = uuid.uuid4().hex[:8]
    shown = money.format_amount(amount, currency, tr.language)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr("form-kind-flexible"), callback_data=callbacks.OFFER + offer_id
                )
            ]
        ]
    )
    sent = await message.reply_text(tr("offer", amount=shown), reply_markup=keyboard)
    context.user_data[OFFER] = {  # type: ignore[index]
        "id": offer_id,
        "amount": str(amount),
        "currency": currency,
        "message_id": sent.message_id,
        "at": time.time(),
    }


def _pending(context: BotContext, message: Message) -> dict[str, Any] | None:
    """The offer this text names: the message right after it, or a reply to it."""
    offer = (context.user_data or {}).get(OFFER)
    if not isinstance(offer, dict) or _expired(offer):
        return None
    reply = message.reply_to_message
    if message.message_id == offer["message_id"] + 1 or (
        reply is not None and reply.message_id == offer["message_id"]
    ):
        return offer
    return None


def _expired(offer: dict[str, Any]) -> bool:
    return time.time() - float(offer.get("at", 0)) > OFFER_SECONDS


async def _hint(message: Message, context: BotContext) -> None:
    await message.reply_text(context.tr("fallback-hint"), reply_markup=start_keyboard(context))


def _addressed(message: Message, username: str) -> bool:
    """A reply to the bot, its @name in the text, or a command of ours we do not have."""
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.is_bot:
        return reply.from_user.username == username
    name = f"@{username}".lower()
    mentions = message.parse_entities([MessageEntityType.MENTION]).values()
    commands = message.parse_entities([MessageEntityType.BOT_COMMAND]).values()
    return any(mention.lower() == name for mention in mentions) or any(
        command.lower().endswith(name) for command in commands
    )
