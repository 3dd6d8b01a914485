"""``/language``: each language's own name on a button; the choice sticks to the user, or,
in a group (its admins only), to the group."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot.callbacks import LANGUAGE
from bot.config import LANGUAGES
from bot.context import BotContext
from bot.i18n import LANGUAGE_NAMES


async def language(update: Update, context: BotContext) -> None:
    """Offers the four languages, each named in itself."""
    message = update.effective_message
    if message is None:
        return
    buttons = [
        InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"{LANGUAGE}{code}")
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
    code = (query.data or "").removeprefix(LANGUAGE)
    if code not in LANGUAGES:
        await query.answer()
        return
    chat = update.effective_chat
    services = context.services
    if chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
        # Registered behind the admins-only gate: in a group this sets the group's language.
        await services.groups.set_language(chat.id, code)
    else:
        await services.users.set_language(user.id, code)
    context.language = code
    await query.answer()
    await query.edit_message_text(context.tr("language-set", language=LANGUAGE_NAMES[code]))
