"""How a create form starts: ``/new`` (or quick create), ``/drive`` and the group deep link,
the **New link** button, and **Duplicate** on a link."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType

from bot import callbacks
from bot.context import BotContext
from bot.dgs.errors import DGSError, NotFoundError
from bot.dgs.models import AmountType
from handlers.common import require_api_key
from handlers.create.form import Form
from handlers.create.prompts import show
from handlers.create.quick import quick_create
from handlers.create.states import CURRENCY, END, KIND, SUMMARY, TITLE
from handlers.gates import is_chat_admin, owned_link


async def new(update: Update, context: BotContext) -> str | int | None:
    """``/new`` alone starts the form at KIND; ``/new <amount> <title>`` is quick create."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return END
    if context.args:
        await quick_create(update, context, " ".join(context.args))
        return None  # a form in progress stays where it was
    if chat.type != ChatType.PRIVATE:
        await _offer_private_form(update, context, "new")
        return None
    if await require_api_key(update, context) is None:
        return END
    form = Form.new()
    return await show(update, context, form, KIND)


async def drive_command(update: Update, context: BotContext) -> str | int | None:
    """``/drive`` in a group (admins): a button that opens the drive form in private."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return None
    if chat.type == ChatType.PRIVATE:
        await message.reply_text(context.tr("drive-in-a-group"))
        return None
    await _offer_private_form(update, context, "drive")
    return None


async def _offer_private_form(update: Update, context: BotContext, kind: str) -> None:
    """The form does not clutter the group: a deep link opens it in the admin's private chat."""
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None
    assert chat is not None
    url = f"https://t.me/{context.bot.username}?start={kind}_{chat.id}"
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(context.tr("group-open-form"), url=url)]]
    )
    await message.reply_text(context.tr(f"group-{kind}-in-private"), reply_markup=keyboard)


async def group_form(update: Update, context: BotContext) -> str | int | None:
    """``/start new_<group>`` or ``drive_<group>`` in private (the deep link): after checking
    the user administers that group, the form for it (a drive starts at TITLE)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not context.args:
        return None
    kind, _, chat_text = context.args[0].partition("_")
    group_chat_id = int(chat_text)
    if not await is_chat_admin(context, group_chat_id, user.id):
        await message.reply_text(context.tr("group-admins-only"))
        return END
    if await require_api_key(update, context) is None:
        return END
    group = await context.services.groups.get(group_chat_id)
    form = Form.new()
    form.group_chat_id = group_chat_id
    notice = context.tr("group-form-for", group=group.title if group else str(group_chat_id))
    if kind == "drive":
        form.drive = True
        form.draft.kind = AmountType.FLEXIBLE
        form.steps = [KIND]
        return await show(update, context, form, TITLE, notice=notice)
    return await show(update, context, form, KIND, notice=notice)


async def new_button(update: Update, context: BotContext) -> str | int:
    """The **New link** button of /start: starts the form at KIND."""
    query = update.callback_query
    if query is not None:
        await query.answer()
    if await require_api_key(update, context) is None:
        return END
    form = Form.new()
    return await show(update, context, form, KIND, notice=None)


async def duplicate(update: Update, context: BotContext) -> str | int | None:
    """**Duplicate** on a link: a new form prefilled from it, shown at SUMMARY."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return None
    link_id = callbacks.link_id_of(callbacks.DUPLICATE, query.data or "").split(":")[0]
    if await owned_link(update, context, link_id) is None:
        return None
    api_key = await require_api_key(update, context)
    if api_key is None:
        return None
    try:
        draft = await context.services.links.duplicate(api_key, link_id)
    except NotFoundError:
        await query.answer(context.tr("not-your-link"), show_alert=True)
        return None
    except DGSError:
        await query.answer(context.tr("form-provider-down"), show_alert=True)
        return None
    await query.answer()
    form = Form.new(draft)
    form.steps = [KIND, TITLE, CURRENCY]
    # A new message: the pressed one is an alert or a card that should stay as it is.
    return await show(update, context, form, SUMMARY, notice=context.tr("form-duplicated"))
