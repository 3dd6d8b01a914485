"""``/items``: the shop's saved items (issue 17, point 2).

The list shows one button per item (name and price); a tap makes the item's fixed-amount link,
or gives back today's open link for it. **Add item** waits for "Samosa 500"; **Edit items**
lists the items to change (a new price, a new name, or both) or remove. A refused answer is
said and the same question stays open. The buttons carry their owner's id: anybody else's press
is refused before anything is read, and items are only ever read under the presser's id.

The states belong to the shop conversation built in ``handlers/till.py`` (the till taps items
too, and one conversation means a typed text has one meaning at a time).
"""

from __future__ import annotations

import logging
from typing import Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ConversationHandler

from bot import callbacks, money
from bot.button_labels import ONE_IN_ROW, cut, width
from bot.cleaners import DraftError
from bot.context import BotContext
from bot.dgs.errors import AuthError, DGSError, ValidationFailedError
from bot.i18n import Translator
from bot.items import ItemLimitError, ItemUsageError
from bot.store.items import Item
from handlers.cards import send_link_card
from handlers.common import draft_error_text, provider_refusal_text, require_api_key

log = logging.getLogger(__name__)

ADDING: Final = "items:add"
EDITING: Final = "items:edit"
EDITED_ITEM: Final = "item_edit"  # user_data: the item an edit's text is for


def item_label(item: Item, tr: Translator) -> str:
    """``Samosa · RWF 500``: the price whole, the name cut to fit a phone's button."""
    price = money.format_amount(item.price, item.currency, tr.language)
    return f"{cut(item.name, max(ONE_IN_ROW - width(price) - 3, 4))} · {price}"


def item_rows(
    items: list[Item], owner: int, prefix: str, action: str, tr: Translator
) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton(
                item_label(item, tr), callback_data=f"{prefix}{owner}:{action}:{item.item_id}"
            )
        ]
        for item in items
    ]


def _data(owner: int, action: str) -> str:
    return f"{callbacks.ITEMS}{owner}:{action}"


async def _list_view(context: BotContext, owner: int) -> tuple[str, InlineKeyboardMarkup]:
    tr = context.tr
    service = context.services.items
    items = await service.items(owner)
    text = tr("items-list", count=len(items), limit=service.limit) if items else tr("items-empty")
    rows = item_rows(items, owner, callbacks.ITEMS, "l", tr)
    actions = [InlineKeyboardButton(tr("items-add"), callback_data=_data(owner, "a"))]
    if items:
        actions = [
            InlineKeyboardButton(tr("items-add"), callback_data=_data(owner, "a")),
            InlineKeyboardButton(tr("items-edit"), callback_data=_data(owner, "e")),
        ]
    return text, InlineKeyboardMarkup([*rows, actions])


async def items_command(update: Update, context: BotContext) -> object:
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    text, keyboard = await _list_view(context, user.id)
    await message.reply_text(text, reply_markup=keyboard)
    return ConversationHandler.END


async def _show(message: Message | None, text: str, keyboard: InlineKeyboardMarkup) -> None:
    """The list's message redrawn in place (a text message: the list or a step of it)."""
    if message is None:
        return
    try:
        await message.edit_text(text, reply_markup=keyboard)
    except BadRequest as error:
        log.info("items: list not redrawn: %s", error.message)


async def press(update: Update, context: BotContext) -> object:
    """Every ``it:`` button: the owner's, or refused."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return None
    tr = context.tr
    owner, action, arg = _parse(query.data or "")
    if owner != user.id:
        await query.answer(tr("items-not-yours"), show_alert=True)
        return None
    message = query.message if isinstance(query.message, Message) else None
    service = context.services.items
    if action == "a":
        if len(await service.items(owner)) >= service.limit:
            await query.answer(tr("items-limit", limit=service.limit), show_alert=True)
            return ConversationHandler.END
        await query.answer()
        await context.bot.send_message(user.id, tr("items-add-ask"))
        return ADDING
    if action == "e":
        await query.answer()
        items = await service.items(owner)
        back = [InlineKeyboardButton(tr("button-back"), callback_data=_data(owner, "b"))]
        keyboard = InlineKeyboardMarkup([*item_rows(items, owner, callbacks.ITEMS, "m", tr), back])
        await _show(message, tr("items-edit-pick"), keyboard)
        return ConversationHandler.END
    if action == "b":
        await query.answer()
        await _show(message, *await _list_view(context, owner))
        return ConversationHandler.END
    item = await service.get(owner, arg) if arg is not None else None
    if item is None:
        await query.answer(tr("items-gone"), show_alert=True)
        return None
    if action == "m":
        await query.answer()
        context.user_data[EDITED_ITEM] = item.item_id  # type: ignore[index]
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        tr("button-remove"), callback_data=f"{_data(owner, 'r')}:{item.item_id}"
                    ),
                    InlineKeyboardButton(tr("button-back"), callback_data=_data(owner, "b")),
                ]
            ]
        )
        await _show(message, tr("items-edit-ask", item=item_label(item, tr)), keyboard)
        return EDITING
    if action == "r":
        await service.remove(owner, item.item_id)
        await query.answer(tr("items-removed", name=item.name))
        await _show(message, *await _list_view(context, owner))
        return ConversationHandler.END
    if action == "l":
        await make_item_link(update, context, item)
        return None
    await query.answer(tr("card-expired"), show_alert=True)
    return None


def _parse(data: str) -> tuple[int | None, str, int | None]:
    """(owner, action, item id) of ``it:<owner>:<action>[:<item id>]`` (or ``tl:``)."""
    owner, _, rest = data.partition(":")[2].partition(":")
    action, _, arg = rest.partition(":")
    return (
        int(owner) if owner.isdigit() else None,
        action,
        int(arg) if arg.isdigit() else None,
    )


parse_data = _parse


async def make_item_link(update: Update, context: BotContext, item: Item) -> None:
    """An item's tap: today's open link for it, or a new one; its QR card."""
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    tr = context.tr
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    try:
        link, reused = await context.services.items.link_for(
            item, api_key=api_key, owner=user.id, chat_id=user.id
        )
    except ValidationFailedError as error:
        await query.answer()
        await context.bot.send_message(
            user.id, provider_refusal_text(error, tr), parse_mode=ParseMode.HTML
        )
        return
    except AuthError:
        await query.answer(tr("form-key-refused"), show_alert=True)
        return
    except DGSError as error:
        log.warning("item link failed for user %s: %s", user.id, error)
        await query.answer(tr("items-provider-down"), show_alert=True)
        return
    await query.answer(tr("items-reused") if reused else None)
    await send_link_card(context, user.id, link)


async def added(update: Update, context: BotContext) -> object:
    """The text after **Add item**: saved, or said why not (and asked again)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    tr = context.tr
    users = context.services.users
    currency = users.currency_of(await users.seen(user.id))
    service = context.services.items
    try:
        item = await service.add(user.id, message.text or "", currency, tr.language)
    except ItemUsageError:
        await message.reply_text(tr("items-add-usage"))
        return ADDING
    except DraftError as error:
        await message.reply_text(
            f"{draft_error_text(error, currency, tr)}\n{tr('items-add-usage')}"
        )
        return ADDING
    except ItemLimitError:
        await message.reply_text(tr("items-limit", limit=service.limit))
        return ConversationHandler.END
    text, keyboard = await _list_view(context, user.id)
    await message.reply_text(
        f"{tr('items-saved', item=item_label(item, tr))}\n\n{text}", reply_markup=keyboard
    )
    return ConversationHandler.END


async def edited(update: Update, context: BotContext) -> object:
    """The text after choosing an item to edit: a price, a name, or both."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return None
    tr = context.tr
    service = context.services.items
    item_id = (context.user_data or {}).get(EDITED_ITEM)
    item = await service.get(user.id, item_id) if isinstance(item_id, int) else None
    if item is None:
        await message.reply_text(tr("items-gone"))
        return ConversationHandler.END
    try:
        changed = await service.edit(user.id, item, message.text or "", tr.language)
    except DraftError as error:
        await message.reply_text(
            f"{draft_error_text(error, item.currency, tr)}\n"
            f"{tr('items-edit-ask', item=item_label(item, tr))}"
        )
        return EDITING
    if changed is None:
        await message.reply_text(tr("items-gone"))
        return ConversationHandler.END
    context.user_data.pop(EDITED_ITEM, None)  # type: ignore[union-attr]
    text, keyboard = await _list_view(context, user.id)
    await message.reply_text(
        f"{tr('items-updated', item=item_label(changed, tr))}\n\n{text}", reply_markup=keyboard
    )
    return ConversationHandler.END
