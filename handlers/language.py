"""``/language``: each language's own name on a button; the choice sticks to the user."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.config import LANGUAGES
from bot.context import BotContext
from bot.i18n import LANGUAGE_NAMES

CHOOSE = "lang:"


async def language(update: Update, context: BotContext) -> None:
    """Offers the four languages, each named in itself."""
    message = update.effective_message
    if message is None:
        return
    buttons = [
        InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"{CHOOSE}{code}")
        for code in LANGUAGES
    ]
    await message.reply_text(
        context.tr("language-choose"),
        reply_markup=InlineKeyboardMarkup([buttons[:2], buttons[2:]]),
    )


async def chosen(update: Update, context: BotContext) -> None:
    """Stores the pressed language for the presser and confirms in that language."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    code = (query.data or "").removeprefix(CHOOSE)
    if code not in LANGUAGES:
        await query.answer()
        return
    await context.services.users.set_language(user.id, code)
    context.language = code
    await query.answer()
    await query.edit_message_text(context.tr("language-set", language=LANGUAGE_NAMES[code]))
