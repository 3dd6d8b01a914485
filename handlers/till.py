"""``/till``: the counter of a market stall (issue 17, point 3), and the shop conversation.

While the till is open, a typed amount (``5000``, ``5k``, ``5,000``) or a tapped item answers
at once with a large QR code for that amount: a fresh one-payment link, its picture drawn by
``bot/qr.py`` at its largest. That same message is edited to "✅ Paid: RWF 5,000 by Aline" when
the payment is recorded (``bot/notify/tills.py``), with **Next customer**, which opens the till
again. A refused amount is said and the till stays open; ``/cancel`` closes it.

``shop_conversation`` joins the till and the saved items (``handlers/items.py``): a typed text
means one thing at a time (an amount at the till, "Samosa 500" after **Add item**).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Final

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks, money, qr
from bot.cleaners import DraftError
from bot.context import BotContext
from bot.dates import format_when
from bot.dgs.errors import AuthError, DGSError, ValidationFailedError
from bot.till_card import waiting_caption
from handlers import items
from handlers.common import conversation, draft_error_text, provider_refusal_text, require_api_key

log = logging.getLogger(__name__)

OPEN: Final = "till:open"
# The till's picture: the QR card at its largest, for a customer scanning across a counter.
TILL_QR_SIZE = qr.MAX_SIDE


def shop_conversation() -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE
    text = filters.TEXT & ~filters.COMMAND & private
    buttons = [
        CallbackQueryHandler(items.press, pattern=f"^{callbacks.ITEMS}"),
        CallbackQueryHandler(press, pattern=f"^{callbacks.TILL}"),
    ]
    return conversation(
        entry_points=[
            CommandHandler("items", items.items_command, private),
            CommandHandler("till", till_command, private),
            *buttons,
        ],
        states={
            items.ADDING: [MessageHandler(text, items.added)],
            items.EDITING: [MessageHandler(text, items.edited)],
            OPEN: [MessageHandler(text, amount_typed)],
        },
        fallbacks=[CommandHandler("cancel", cancel)],
        name="shop",
        persistent=True,
        allow_reentry=True,
    )


async def _open(context: BotContext, owner: int) -> None:
    tr = context.tr
    shop_items = await context.services.items.items(owner)
    rows = items.item_rows(shop_items, owner, callbacks.TILL, "i", tr)
    await context.bot.send_message(
        owner, tr("till-open"), reply_markup=InlineKeyboardMarkup(rows) if rows else None
    )


async def till_command(update: Update, context: BotContext) -> object:
    user = update.effective_user
    if user is None:
        return None
    if await require_api_key(update, context) is None:
        return ConversationHandler.END
    await _open(context, user.id)
    return OPEN


async def press(update: Update, context: BotContext) -> object:
    """``tl:<owner>:n`` (**Next customer**) and ``tl:<owner>:i:<item>`` (an item's amount)."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return None
    tr = context.tr
    owner, action, arg = items.parse_data(query.data or "")
    if owner != user.id:
        await query.answer(tr("items-not-yours"), show_alert=True)
        return None
    if action == "n":
        await query.answer()
        await _open(context, owner)
        return OPEN
    item = await context.services.items.get(owner, arg) if arg is not None else None
    if action != "i" or item is None:
        await query.answer(tr("items-gone"), show_alert=True)
        return None
    await query.answer()
    await _charge(update, context, item.price, item.currency, item.name)
    return OPEN


async def amount_typed(update: Update, context: BotContext) -> object:
    """A typed amount at the open till: its QR, or why not (the till stays open either way)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    tr = context.tr
    users = context.services.users
    currency = users.currency_of(await users.seen(user.id))
    try:
        amount = money.parse_amount(message.text or "", currency, tr.language)
    except money.AmountError as error:
        refusal = draft_error_text(DraftError("amount", error.code, **error.params), currency, tr)
        await message.reply_text(f"{refusal}\n{tr('till-ask-again')}")
        return OPEN
    await _charge(update, context, amount, currency, None)
    return OPEN


async def _charge(
    update: Update, context: BotContext, amount: Decimal, currency: str, title: str | None
) -> Message | None:
    """The QR for ``amount``: a one-payment link, its large picture, the till's row."""
    user = update.effective_user
    assert user is not None
    tr = context.tr
    api_key = await require_api_key(update, context)
    if api_key is None:
        return None
    if title is None:
        title = tr.plain("till-title", time=format_when(context.services.items.now(), tr.language))
    try:
        link = await context.services.items.till_link(
            user.id, amount, currency, title, api_key=api_key, chat_id=user.id
        )
    except ValidationFailedError as error:
        await context.bot.send_message(
            user.id, provider_refusal_text(error, tr), parse_mode=ParseMode.HTML
        )
        return None
    except AuthError:
        await context.bot.send_message(user.id, tr("form-key-refused"))
        return None
    except DGSError as error:
        log.warning("till link failed for user %s: %s", user.id, error)
        await context.bot.send_message(user.id, tr("till-provider-down"))
        return None
    png = await qr.render_qr_card_async(
        link.url or "",
        link.title,
        money.format_amount(amount, currency, tr.language),
        size_hint=TILL_QR_SIZE,
        scan_text=tr.plain("qr-scan-to-pay"),
    )
    sent = await context.bot.send_photo(
        user.id, png, caption=waiting_caption(amount, currency, tr), parse_mode=ParseMode.HTML
    )
    await context.services.items.open_till(link.id, user.id, user.id, sent.message_id, tr.language)
    return sent


async def cancel(update: Update, context: BotContext) -> int:
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("shop-closed"))
    return ConversationHandler.END
