"""The bot in group chats: joining and leaving, supergroup migration, and whether the group's
payment lines name the payer.

Privacy mode stays on: in groups the bot sees commands, button presses and replies to its
own messages, nothing else.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import (
    ChatMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.callbacks import GROUP_NAMES
from bot.context import BotContext
from bot.i18n import Translator
from handlers.gates import is_chat_admin

log = logging.getLogger(__name__)

_IN = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED)
_OUT = (ChatMember.LEFT, ChatMember.BANNED)


def _joined(change: ChatMemberUpdated) -> bool | None:
    """True when the bot was added, False when removed, None for other changes."""
    was_in = change.old_chat_member.status in _IN
    is_in = change.new_chat_member.status in _IN
    if is_in and not was_in:
        return True
    if was_in and change.new_chat_member.status in _OUT:
        return False
    return None


async def bot_membership(update: Update, context: BotContext) -> None:
    """Added: a short hello in the group's language (the adder's). Removed: stop posting."""
    change = update.my_chat_member
    if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    chat = change.chat
    services = context.services
    joined = _joined(change)
    if joined is None:
        return
    if not joined:
        await services.groups.left(chat.id)
        log.info("removed from group %s; its links stay with their owners", chat.id)
        return
    adder = change.from_user
    group = await services.groups.remember(chat.id, chat.title or "", added_by=adder.id)
    language = group.language
    if language is None:
        language = services.users.language_of(
            await services.users.seen(adder.id), adder.language_code
        )
        await services.groups.set_language(chat.id, language)
    tr = services.catalogues.translator(language)
    try:
        await context.bot.send_message(chat.id, tr("group-hello", name=adder.first_name))
    except TelegramError as exc:
        log.info("could not greet group %s: %s", chat.id, exc)


async def migrated(update: Update, context: BotContext) -> None:
    """The group became a supergroup: every stored chat id moves to the new one."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    old_id, new_id = message.chat.id, message.migrate_to_chat_id
    await context.services.groups.migrate(context.application, old_id, new_id)
    log.info("group %s is now supergroup %s", old_id, new_id)


def posted_text(anonymous: bool, tr: Translator) -> str:
    """The private "posted in the group" message, with what the group reads of its payers."""
    names = tr("drive-names-hidden" if anonymous else "drive-names-shown")
    return f"{tr('group-posted')}\n{names}"


def names_keyboard(group_chat_id: int, anonymous: bool, tr: Translator) -> InlineKeyboardMarkup:
    label, flag = ("drive-show-names", 0) if anonymous else ("drive-hide-names", 1)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(tr(label), callback_data=f"{GROUP_NAMES}{group_chat_id}:{flag}")]]
    )


async def toggle_names(update: Update, context: BotContext) -> None:
    """The switch an admin gets in private after posting a plain link in a group: the group's
    payment lines name the payer, or show amounts only. Re-authorised on every press: only an
    admin of that group may flip it."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    group_text, _, flag = (query.data or "").removeprefix(GROUP_NAMES).partition(":")
    group_chat_id = int(group_text)
    tr = context.tr
    if not await is_chat_admin(context, group_chat_id, user.id, fresh=True):
        await query.answer(tr("group-admins-only"), show_alert=True)
        return
    anonymous = flag == "1"
    await context.services.groups.set_anonymous_totals(group_chat_id, anonymous)
    await query.answer(tr("drive-names-hidden" if anonymous else "drive-names-shown"))
    with contextlib.suppress(BadRequest):  # pressed twice: the message already says so
        await query.edit_message_text(
            posted_text(anonymous, tr), reply_markup=names_keyboard(group_chat_id, anonymous, tr)
        )
