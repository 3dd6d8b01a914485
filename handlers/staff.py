"""``/staff``: an owner's cashiers (invite, owner's alerts per cashier, remove), the invite's
deep link ``/start staff_<token>``, and the one gate that stops what no cashier may do.

    /staff ──► the list ──(Invite)──► a one-time link, 24 h
                        ──(🔔/🔕 name)──► the owner gets that cashier's alerts, or not
                        ──(Remove name)──► Yes ──► removed at once, the cashier told

Callback data: ``staff:i`` invite, ``staff:a:<cashier>:<1|0>`` alerts, ``staff:r:<cashier>``
ask, ``staff:y:<cashier>`` remove, ``staff:v`` the list again. Every press acts on the
presser's own shop (the store's rows are found by the presser's id), so nobody can act on
another's cashiers; a cashier's press never gets here (``cashier_gate``).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final

from telegram import (
    CopyTextButton,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import callbacks
from bot.button_labels import TWO_IN_ROW, filled
from bot.context import BotContext
from bot.i18n import Translator, escape
from bot.staff import START_PREFIX, JoinResult
from bot.store.staff import Membership
from bot.users import telegram_language
from handlers.common import require_api_key

STAFF: Final = callbacks.STAFF

# What only the shop's owner may do: archive, export, connect and disconnect, the shop's
# alert settings, and inviting or removing cashiers (``handlers/__init__.py`` registers them).
OWNER_COMMANDS: Final = frozenset({"connect", "disconnect", "export", "notifications"})
OWNER_PRESSES: Final = (
    callbacks.ARCHIVE,
    callbacks.ARCHIVE_CONFIRM,
    callbacks.EXPORT,
    callbacks.CHARGES_CSV,
    callbacks.NOTIFY,
    callbacks.DISCONNECT,
    STAFF,
)
_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]+)(?:@\w+)?(?:\s|$)")
# A removed cashier's next update is told their open form was closed (user_data key).
ENDED_KEY: Final = "staff_ended"


def _command(message: Message | None) -> str | None:
    match = _COMMAND_RE.match((message.text or "") if message else "")
    return match[1].lower() if match else None


async def cashier_gate(update: object, context: BotContext) -> None:
    """Stops (after one line) what a cashier may not do; asked by ``gates.track_user``.

    Reads the store only for an update that is such an action, or for the first update of a
    cashier just removed (their open form was closed: they are told so, once)."""
    if not isinstance(update, Update) or update.effective_user is None:
        return
    query = update.callback_query
    user_data = context.user_data
    if user_data is not None and ENDED_KEY in user_data:
        await _form_ended(update, context, user_data)
    if query is not None:
        if not (query.data or "").startswith(OWNER_PRESSES):
            return
    elif _command(update.message) not in OWNER_COMMANDS:
        return
    if await context.services.staff.shop_of(update.effective_user.id) is None:
        return
    text = context.tr("staff-owner-only")
    if query is not None:
        await query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)
    raise ApplicationHandlerStop


async def _form_ended(update: Update, context: BotContext, user_data: dict[str, Any]) -> None:
    """A removed cashier's next answer to the form they had open is told why it is gone, once
    (its buttons say "this form is closed" themselves). The update goes on: the form, finding
    nothing to load, ends its conversation."""
    query = update.callback_query
    if query is not None:
        if (query.data or "").startswith(callbacks.FORM):
            user_data.pop(ENDED_KEY, None)
        return
    message = update.message
    if message is None or message.text is None or _command(message) is not None:
        return
    owner = str(user_data.pop(ENDED_KEY))
    await message.reply_text(context.tr("staff-form-ended", owner=owner))


# --- /staff ----------------------------------------------------------------------------------


def staff_view(tr: Translator, cashiers: list[Membership]) -> tuple[str, InlineKeyboardMarkup]:
    lines = [tr("staff-title")]
    if not cashiers:
        lines.append(tr("staff-none"))
    for member in cashiers:
        key = "staff-line-alerts-on" if member.owner_alerts else "staff-line-alerts-off"
        lines.append(tr(key, name=escape(member.cashier_name)))
    rows = []
    for member in cashiers:
        who = str(member.cashier_user_id)
        alerts_key = "staff-alerts-on" if member.owner_alerts else "staff-alerts-off"
        switch = "0" if member.owner_alerts else "1"
        rows.append(
            [
                InlineKeyboardButton(
                    filled(tr, alerts_key, "name", member.cashier_name, TWO_IN_ROW),
                    callback_data=f"{STAFF}a:{who}:{switch}",
                ),
                InlineKeyboardButton(
                    filled(tr, "staff-remove-button", "name", member.cashier_name, TWO_IN_ROW),
                    callback_data=f"{STAFF}r:{who}",
                ),
            ]
        )
    rows.append([InlineKeyboardButton(tr("staff-invite-button"), callback_data=f"{STAFF}i")])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def staff_command(update: Update, context: BotContext) -> None:
    """``/staff`` in private: a cashier reads whose shop they work for; an owner (anyone with
    a key) the list and its buttons."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    staff = context.services.staff
    shop = await staff.shop_of(user.id)
    if shop is not None:
        await message.reply_text(
            context.tr("staff-you-work-for", owner=escape(shop.owner_name)),
            parse_mode=ParseMode.HTML,
        )
        return
    if await require_api_key(update, context) is None:
        return
    text, markup = staff_view(context.tr, await staff.cashiers(user.id))
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def staff_button(update: Update, context: BotContext) -> None:
    """Every /staff button; it acts on the presser's own shop only."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    action, _, rest = (query.data or "").removeprefix(STAFF).partition(":")
    who_text, _, arg = rest.partition(":")
    who = int(who_text) if who_text.isdigit() else None
    staff = context.services.staff
    tr = context.tr
    if action == "i":
        if await require_api_key(update, context) is None:
            return
        token = await staff.invite(user.id, user.first_name)
        url = f"https://t.me/{context.bot.username}?start={START_PREFIX}{token}"
        await query.answer()
        copy = InlineKeyboardButton(tr("staff-copy-button"), copy_text=CopyTextButton(url))
        await context.bot.send_message(
            user.id,
            tr("staff-invite-link", url=url),
            disable_web_page_preview=True,
            reply_markup=InlineKeyboardMarkup([[copy]]),
        )
        return
    member = next((m for m in await staff.cashiers(user.id) if m.cashier_user_id == who), None)
    if action != "v" and member is None:
        await query.answer(tr("staff-not-yours"), show_alert=True)
        await _redraw(query, context, user.id)
        return
    if action == "a" and member is not None:
        await staff.set_owner_alerts(user.id, member.cashier_user_id, arg == "1")
        await query.answer(tr("staff-alerts-saved"))
        await _redraw(query, context, user.id)
    elif action == "r" and member is not None:
        await query.answer()
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr("staff-remove-yes"), callback_data=f"{STAFF}y:{member.cashier_user_id}"
                    ),
                    InlineKeyboardButton(tr("button-no"), callback_data=f"{STAFF}v"),
                ]
            ]
        )
        await _edit(query, tr("staff-remove-confirm", name=escape(member.cashier_name)), markup)
    elif action == "y" and member is not None:
        await staff.remove(user.id, member.cashier_user_id)
        _end_forms(context, member)
        await query.answer(tr("staff-removed", name=member.cashier_name))
        await _redraw(query, context, user.id)
        await _tell_removed(context, member)
    else:
        await query.answer()
        await _redraw(query, context, user.id)


def _end_forms(context: BotContext, member: Membership) -> None:
    """The removed cashier's open form ends now; their next message is told why."""
    app = context.application
    data = app.user_data.get(member.cashier_user_id)
    if data is None:
        return
    data.pop("form", None)
    data[ENDED_KEY] = member.owner_name
    app.mark_data_for_update_persistence(user_ids=member.cashier_user_id)


async def _tell_removed(context: BotContext, member: Membership) -> None:
    tr = await _translator_of(context, member.cashier_user_id)
    # TelegramError: they blocked the bot; their buttons are refused all the same.
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(
            member.cashier_user_id, tr("staff-removed-you", owner=member.owner_name)
        )


async def _translator_of(context: BotContext, user_id: int) -> Translator:
    """The other person's language (a message to someone who did not send this update)."""
    users = context.services.users
    code = telegram_language(context.application.user_data.get(user_id))
    language = users.language_of(await users.seen(user_id), code)
    return context.services.catalogues.translator(language)


async def _redraw(query: Any, context: BotContext, owner_user_id: int) -> None:
    text, markup = staff_view(context.tr, await context.services.staff.cashiers(owner_user_id))
    await _edit(query, text, markup)


async def _edit(query: Any, text: str, markup: InlineKeyboardMarkup) -> None:
    # TelegramError: the same text (a double tap), or the message is gone: nothing to show.
    with contextlib.suppress(TelegramError):
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)


# --- the invite's deep link ------------------------------------------------------------------

_JOIN_REFUSALS: Final = {
    JoinResult.UNKNOWN: "staff-invite-unknown",
    JoinResult.EXPIRED: "staff-invite-expired",
    JoinResult.OWN: "staff-invite-own",
    JoinResult.BUSY: "staff-invite-busy",
    JoinResult.NO_KEY: "staff-invite-no-key",
}


# The invite link pasted as a message (copied from another app, or in the demo's web chat).
PASTED_INVITE: Final = re.compile(
    rf"^\s*(?:https?://)?t\.me/\w+\?start={START_PREFIX}([A-Za-z0-9_-]{{20,64}})\s*$"
)


async def join(update: Update, context: BotContext) -> None:
    """``/start staff_<token>`` (the invite opened) or the link pasted: its taker becomes a
    cashier; the owner is told."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    if context.args:
        token = context.args[0].removeprefix(START_PREFIX)
    elif context.matches:
        token = context.matches[0][1]
    else:
        return
    services = context.services
    joined = await services.staff.join(token, user.id, user.first_name)
    if joined.result is not JoinResult.JOINED or joined.owner_user_id is None:
        await message.reply_text(context.tr(_JOIN_REFUSALS[joined.result]))
        return
    shop = await services.staff.shop_of(user.id)
    owner_name = shop.owner_name if shop is not None else ""
    await message.reply_text(
        context.tr("staff-joined", owner=escape(owner_name)), parse_mode=ParseMode.HTML
    )
    tr = await _translator_of(context, joined.owner_user_id)
    # TelegramError: the owner blocked the bot; the cashier is in all the same.
    with contextlib.suppress(TelegramError):
        await context.bot.send_message(
            joined.owner_user_id,
            tr("staff-joined-owner", name=escape(user.first_name)),
            parse_mode=ParseMode.HTML,
        )


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(
        CommandHandler("start", join, private & filters.Regex(f"^/start {START_PREFIX}"))
    )
    app.add_handler(MessageHandler(private & filters.Regex(PASTED_INVITE), join))
    app.add_handler(CommandHandler("staff", staff_command, private))
    app.add_handler(CallbackQueryHandler(staff_button, pattern=f"^{STAFF}"))
