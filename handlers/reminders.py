"""Issue 17, points 4 and 5: the buttons that set what the bot tells a vendor of its own accord.

    rm:<link id>            ⏰ Remind me, on an unpaid invoice's card ─► the choices, in place
    rm:<link id>:<choice>   1d | 3d | exp | off ─► stored, the card again with when it comes
    dt:menu                 📊 Daily totals (/notifications, under the daily message) ─► menu
    dt:<auto|on|off|minute> the switch or the time ─► stored, the menu ticked anew

Every ``rm:`` press goes through the dashboard's gate (``open_link``: the presser must own the
link); a ``dt:`` press changes the presser's own setting and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot import callbacks
from bot.context import BotContext
from bot.dates import format_when
from bot.i18n import Translator
from bot.reminders import BEFORE_EXPIRY, IN_1_DAY, IN_3_DAYS, choices, is_invoice
from bot.store.daily import DailyMode, DailySetting
from handlers.link_card import put, show_card
from handlers.press import answer, data, open_link

OFF = "off"
DAILY_TIMES = (17 * 60, 18 * 60, 19 * 60, 20 * 60, 21 * 60, 22 * 60)
_CHOICE_KEYS = {
    IN_1_DAY: "remind-in-1-day",
    IN_3_DAYS: "remind-in-3-days",
    BEFORE_EXPIRY: "remind-before-expiry",
}


def _when(moment: float, tr: Translator) -> str:
    return format_when(datetime.fromtimestamp(moment, UTC), tr.language)


async def remind_press(update: Update, context: BotContext) -> None:
    opened = await open_link(update, context, callbacks.REMIND)
    if opened is None:
        return
    tr = context.tr
    link = opened.details.link
    reminders = context.services.reminders
    if not is_invoice(link):
        # Paid, closed, or not an invoice (any more): nothing to remind of.
        await answer(opened.query, tr("remind-not-invoice"), alert=True)
        return
    now = reminders.clock()
    if not opened.args:
        current = await reminders.pending(link.id)
        text = tr("remind-prompt", title=link.title)
        if current is not None:
            text += "\n" + tr("remind-now", when=_when(current.remind_at, tr))
        rows = [
            [
                InlineKeyboardButton(
                    tr(_CHOICE_KEYS[choice]), callback_data=data(callbacks.REMIND, link.id, choice)
                )
            ]
            for choice in choices(link, now)
        ]
        rows.append(
            [
                InlineKeyboardButton(
                    tr("remind-off"), callback_data=data(callbacks.REMIND, link.id, OFF)
                ),
                InlineKeyboardButton(
                    tr("remind-back"), callback_data=callbacks.data(callbacks.LINK_CARD, link.id)
                ),
            ]
        )
        await answer(opened.query)
        await put(context, opened.query, text, InlineKeyboardMarkup(rows), in_place=True)
        return
    choice = opened.args[0]
    if choice == OFF:
        await reminders.cancel(link.id)
        notice = tr("remind-cancelled")
    else:
        moment = await reminders.remind(link, opened.user_id, choice)
        if moment is None:
            await answer(opened.query, tr("remind-not-invoice"), alert=True)
            return
        notice = tr("remind-set", when=_when(moment, tr))
    await answer(opened.query)
    await show_card(context, opened, opened.details, notice=notice, in_place=True)


# --- the daily totals ------------------------------------------------------------------------


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def daily_menu(tr: Translator, setting: DailySetting) -> tuple[str, InlineKeyboardMarkup]:
    text = tr(
        "daily-prompt",
        hour=_clock(setting.minute),
        mode=tr(f"daily-mode-{setting.mode.value}"),
    )
    times = [
        InlineKeyboardButton(
            ("✅ " if minute == setting.minute else "") + _clock(minute),
            callback_data=f"{callbacks.DAILY}{minute}",
        )
        for minute in DAILY_TIMES
    ]
    rows = [times[i : i + 2] for i in range(0, len(times), 2)]
    rows += [
        [
            InlineKeyboardButton(
                ("✅ " if mode is setting.mode else "") + tr(f"daily-mode-{mode.value}"),
                callback_data=f"{callbacks.DAILY}{mode.value}",
            )
        ]
        for mode in DailyMode
    ]
    return text, InlineKeyboardMarkup(rows)


def daily_button(tr: Translator, setting: DailySetting) -> InlineKeyboardButton:
    """The /notifications button that opens the daily totals' menu."""
    return InlineKeyboardButton(
        tr("daily-button", hour=_clock(setting.minute))
        if setting.mode is not DailyMode.OFF
        else tr("daily-button-off"),
        callback_data=callbacks.DAILY_MENU,
    )


async def daily_press(update: Update, context: BotContext) -> None:
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    tr = context.tr
    reminders = context.services.reminders
    choice = (query.data or "").removeprefix(callbacks.DAILY)
    setting = await reminders.daily(user.id)
    if choice in {mode.value for mode in DailyMode}:
        setting = await reminders.set_daily(user.id, mode=DailyMode(choice))
        await answer(query, tr("daily-saved"))
    elif choice.isdigit() and int(choice) in DAILY_TIMES:
        setting = await reminders.set_daily(user.id, minute=int(choice))
        await answer(query, tr("daily-saved"))
    else:
        await answer(query)
    text, markup = daily_menu(tr, setting)
    message = query.message
    if choice == "menu" or message is None:
        # From a daily message or /notifications: the menu comes as a new message.
        chat_id = message.chat.id if message is not None else user.id
        await context.bot.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
        )
        return
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(remind_press, pattern=f"^{callbacks.REMIND}"))
    app.add_handler(CallbackQueryHandler(daily_press, pattern=f"^{callbacks.DAILY}"))
