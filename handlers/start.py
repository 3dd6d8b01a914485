"""``/start`` and ``/help``: who the bot is for and the first buttons to press."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from bot.callbacks import HELP, MY_LINKS, NEW_LINK
from bot.context import BotContext


def start_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    tr = context.tr
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(tr("button-new-link"), callback_data=NEW_LINK)],
            [
                InlineKeyboardButton(tr("button-my-links"), callback_data=MY_LINKS),
                InlineKeyboardButton(tr("button-help"), callback_data=HELP),
            ],
        ]
    )


async def start(update: Update, context: BotContext) -> None:
    """Greets the user, says whether this is the sandbox, and offers the first steps."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    tr = context.tr
    lines = [tr("welcome", name=user.first_name)]
    if context.services.sandbox_mode:
        lines.append(tr("welcome-sandbox"))
    elif await context.services.accounts.api_key_for(user.id) is None:
        lines.append(tr("welcome-connect"))
    await message.reply_text(
        "\n\n".join(lines), parse_mode=ParseMode.HTML, reply_markup=start_keyboard(context)
    )


async def help_command(update: Update, context: BotContext) -> None:
    """Lists what the bot can do, one line per command."""
    message = update.effective_message
    if message is None:
        return
    await message.reply_text(context.tr("help"), parse_mode=ParseMode.HTML)


async def help_button(update: Update, context: BotContext) -> None:
    """The Help button of /start: the same text as /help."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if query.message is not None:
        await context.bot.send_message(
            query.message.chat.id, context.tr("help"), parse_mode=ParseMode.HTML
        )
