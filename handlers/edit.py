"""**Edit** on a link card: one field at a time, one PATCH holding only that field.

    Edit ─► the field menu (current values) ─┬─ a toggle ───────────────► PATCH ─► the card
                                             ├─ Methods ─► tick, Done ──► PATCH ─► the card
                                             └─ a text field ─► AWAIT_VALUE ─(typed)─► PATCH
                                                               └─(Remove) ──────────► PATCH

Typed values go through the create form's cleaners (``bot.cleaners``), so the same input is
accepted and the same ``draft-*`` / ``amount-*`` answers come back; a refusal keeps the step.
Callback data carries the link id and the field, never state, so the buttons work after a
restart; the one piece of state, which field a typed value is for, is in ``user_data``
(persisted with the conversation)::

    de:<id>:<view>            the menu             df:<id>:<field>:<view>   a field
    dm:<id>:<mask>:<view>     methods ticked       dw:<id>:<mask>:<view>    save methods
    dz:<id>:<field>:<view>    remove the value

An edit prompt left for something else (another button, a command) is not answered by the
next text any more: that text goes to whatever else may want it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any, Final

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.bounded import LRUSet
from bot.cleaners import DraftError, clean_payment_types
from bot.context import BotContext
from bot.dgs.errors import ArchivedError, DGSError, SlugTakenError, ValidationFailedError
from bot.dgs.models import (
    ALL_PAYMENT_TYPES,
    LinkDetails,
    LinkStatus,
    LinkUpdate,
)
from bot.links import LinkDraft, update_for
from bot.telegram_text import MESSAGE_LIMIT, split
from handlers import gates
from handlers.common import (
    conversation,
    draft_error_text,
    provider_refusal_text,
)
from handlers.edit_views import (
    CLEAR,
    CLEARABLE,
    EDIT_PREFIXES,
    FIELD,
    FIELD_SPECS,
    FIELDS,
    METHODS,
    SAVE_METHODS,
    TEXT_FIELDS,
    TOGGLES,
    build_update,
    kinds_of,
    mask_of,
    menu_view,
    methods_view,
    prompt_view,
)
from handlers.link_card import EDIT, NO_PREVIEW, card_parts, put, show_card
from handlers.press import (
    Press,
    View,
    answer,
    fetch,
    link_press,
    tell_trouble,
    trouble_text,
)

log = logging.getLogger(__name__)

AWAIT_VALUE: Final = "edit:await_value"
STATE_KEY: Final = "dashboard_edit"
# People remembered as having walked away from an edit prompt (see ``_Prompts``).
LEFT_PROMPTS_MAX = 10_000


class _Prompts:
    """Which (chat, user) walked away from their edit prompt (in memory: after a restart a
    persisted prompt is answerable again, which is what the user last saw).

    Everyone who sends a command is noted, so the set keeps only the most recent
    ``LEFT_PROMPTS_MAX``: one forgotten is as after a restart, and by then long gone."""

    def __init__(self) -> None:
        self.left: LRUSet[tuple[int, int]] = LRUSet(LEFT_PROMPTS_MAX)

    @staticmethod
    def key(update: Update) -> tuple[int, int] | None:
        chat, user = update.effective_chat, update.effective_user
        return None if chat is None or user is None else (chat.id, user.id)

    async def note(self, update: object, context: BotContext) -> None:
        """Runs before every update: a command or another flow's button leaves the prompt."""
        if not isinstance(update, Update):
            return
        key = self.key(update)
        if key is None:
            return
        query = update.callback_query
        if query is not None:
            if not (query.data or "").startswith(EDIT_PREFIXES):
                self.left.add(key)
            return
        message = update.message
        if message is not None and (message.text or "").startswith("/"):
            self.left.add(key)

    def open(self, update: Update) -> None:
        key = self.key(update)
        if key is not None:
            self.left.discard(key)


class _Answering(filters.MessageFilter):
    def __init__(self, prompts: _Prompts) -> None:
        super().__init__(name="answering_edit_prompt")
        self._prompts = prompts

    def filter(self, message: Message) -> bool:
        user = message.from_user
        return user is None or (message.chat.id, user.id) not in self._prompts.left


# --- handlers --------------------------------------------------------------------------------


async def _details_or_trouble(context: BotContext, press: Press) -> LinkDetails | None:
    """The link as the provider has it now; None (after telling why) when it cannot change."""
    details = await fetch(context, press)
    if details is None:
        return None
    if details.link.status == LinkStatus.ARCHIVED:
        await show_card(context, press, details, in_place=True)
        await answer(press.query, context.tr("edit-archived"), alert=True)
        return None
    return details


async def open_menu(update: Update, context: BotContext) -> int:
    """**Edit** on the card: the field menu, in place."""
    _forget(context)
    press = await link_press(update, context, EDIT)
    if press is None:
        return ConversationHandler.END
    details = await _details_or_trouble(context, press)
    if details is None:
        return ConversationHandler.END
    text, markup = menu_view(details.link, press.view or View(), context.tr)
    await put(context, press.query, text, markup, in_place=True)
    await answer(press.query)
    return ConversationHandler.END


async def _field_press(
    update: Update, context: BotContext, prefix: str, allowed: Collection[str]
) -> tuple[Press, str, View, LinkDetails] | None:
    """A press naming one field (``<prefix><link id>:<field>[:<view>]``): the press, the field,
    the list view to return to and the link's details; None once the presser was answered."""
    press = await link_press(update, context, prefix)
    if press is None:
        return None
    field = press.args[0] if press.args else ""
    view = View.parse(press.args[1] if len(press.args) > 1 else None) or View()
    if field not in allowed:
        await answer(press.query, context.tr("card-expired"), alert=True)
        return None
    details = await _details_or_trouble(context, press)
    if details is None:
        return None
    return press, field, view, details


def make_choose_field(
    prompts: _Prompts,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, str | int]]:
    async def choose_field(update: Update, context: BotContext) -> str | int:
        """A field of the menu: a toggle is saved at once; methods get their own menu; a text
        field asks for the new value."""
        _forget(context)
        found = await _field_press(update, context, FIELD, FIELDS)
        if found is None:
            return ConversationHandler.END
        press, field, view, details = found
        link = details.link
        tr = context.tr
        if field in TOGGLES:
            draft = LinkDraft.for_edit(link)
            setattr(draft, field, not getattr(draft, field))
            await _save(context, press, details, field, update_for(field, draft), view)
            return ConversationHandler.END
        if field == "payment_types":
            mask = mask_of(link.payment_types)
            text, markup = methods_view(link.id, link.title, mask, view, tr)
            await put(context, press.query, text, markup, in_place=True)
            await answer(press.query)
            return ConversationHandler.END
        text, markup = prompt_view(link, field, view, tr)
        await put(context, press.query, text, markup, in_place=True)
        await answer(press.query)
        if context.user_data is not None:
            context.user_data[STATE_KEY] = {
                "link_id": link.id,
                "field": field,
                "view": view.code,
                # the prompt's Back and Remove go dead once the answer's card is below it
                "prompt_id": _prompt_id(press),
            }
        prompts.open(update)
        return AWAIT_VALUE

    return choose_field


async def tick_method(update: Update, context: BotContext) -> int:
    """A method on the methods menu: switched on or off (nothing is saved yet)."""
    _forget(context)
    press = await link_press(update, context, METHODS)
    if press is None:
        return ConversationHandler.END
    mask, view = _mask_and_view(press)
    text, markup = methods_view(press.link_id, press.stored.title, mask, view, context.tr)
    await put(context, press.query, text, markup, in_place=True)
    await answer(press.query)
    return ConversationHandler.END


async def save_methods(update: Update, context: BotContext) -> int:
    """**Done** on the methods menu: one PATCH with the methods."""
    _forget(context)
    press = await link_press(update, context, SAVE_METHODS)
    if press is None:
        return ConversationHandler.END
    mask, view = _mask_and_view(press)
    tr = context.tr
    try:
        kinds = clean_payment_types(kind.value for kind in kinds_of(mask))
    except DraftError as error:
        await answer(press.query, draft_error_text(error, "", tr), alert=True)
        return ConversationHandler.END
    details = await _details_or_trouble(context, press)
    if details is None:
        return ConversationHandler.END
    if mask_of(details.link.payment_types) == mask:
        notice = tr("edit-unchanged")
        await show_card(context, press, details, notice=notice, in_place=True, view=view)
        await answer(press.query)
        return ConversationHandler.END
    draft = LinkDraft.for_edit(details.link)
    draft.payment_types = kinds
    body = update_for("payment_types", draft)
    await _save(context, press, details, "payment_types", body, view)
    return ConversationHandler.END


async def clear_value(update: Update, context: BotContext) -> int:
    """**Remove** (or Unlimited, No expiry) on a prompt: the field goes back to empty."""
    _forget(context)
    found = await _field_press(update, context, CLEAR, CLEARABLE)
    if found is None:
        return ConversationHandler.END
    press, field, view, details = found
    draft = LinkDraft.for_edit(details.link)
    setattr(draft, field, None)
    try:
        body = update_for(field, draft)
    except DraftError as error:
        currency = details.link.currency
        await answer(press.query, draft_error_text(error, currency, context.tr), alert=True)
        return ConversationHandler.END
    await _save(context, press, details, field, body, view)
    return ConversationHandler.END


async def _save(
    context: BotContext,
    press: Press,
    details: LinkDetails,
    field: str,
    body: LinkUpdate,
    view: View,
) -> None:
    """PATCH from a button, then the updated card in place (the link as the PATCH answered
    it; the stats of the get call just before, which a PATCH does not change)."""
    tr = context.tr
    if not await gates.may_act_on(context, press.user_id, press.stored, fresh=True):
        # The menu may have been opened on a 5-minute-old "admin": the save asks now.
        await answer(press.query, tr(gates.refusal_for(press.stored)), alert=True)
        return
    try:
        details = await context.services.links.update(press.api_key, press.stored, details, body)
    except ValidationFailedError as error:
        await answer(press.query, provider_refusal_text(error, tr, html=False), alert=True)
        return
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    notice = tr("edit-saved", field=tr(FIELD_SPECS[field].label or field))
    await show_card(context, press, details, notice=notice, in_place=True, view=view)
    await answer(press.query)


def _mask_and_view(press: Press) -> tuple[int, View]:
    try:
        mask = int(press.args[0], 16) if press.args else 0
    except ValueError:
        mask = 0
    mask &= (1 << len(ALL_PAYMENT_TYPES)) - 1
    view = View.parse(press.args[1] if len(press.args) > 1 else None) or View()
    return mask, view


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(STATE_KEY, None)


async def receive_value(update: Update, context: BotContext) -> str | int:
    """The typed value: checked like the form checks it, PATCHed alone, the card shown."""
    message = update.effective_message
    user = update.effective_user
    state = (context.user_data or {}).get(STATE_KEY)
    if message is None or user is None or not isinstance(state, dict):
        return ConversationHandler.END
    tr = context.tr
    link_id, field = str(state.get("link_id", "")), str(state.get("field", ""))
    view = View.parse(state.get("view")) or View()
    services = context.services
    stored = await services.links.stored(link_id)
    if field not in TEXT_FIELDS or stored is None:
        _forget(context)
        return ConversationHandler.END
    if not await gates.may_act_on(context, user.id, stored, fresh=True):
        _forget(context)
        await message.reply_text(tr(gates.refusal_for(stored)))
        return ConversationHandler.END
    api_key = await services.accounts.key_for_link(user.id, stored.api_key_fingerprint)
    if api_key is None:
        await message.reply_text(tr("need-connect"))
        return ConversationHandler.END
    try:
        before = await services.links.details(api_key, stored)
        link = before.link
    except DGSError as error:
        await _reply(message, trouble_text(error, tr) + "\n" + tr("edit-again"))
        return AWAIT_VALUE
    try:
        if link.status == LinkStatus.ARCHIVED:
            raise ArchivedError("the link is archived", status_code=410)
        body = build_update(field, message.text or "", link, tr.language)
        details = await services.links.update(api_key, stored, before, body)
    except DraftError as error:
        await _reply(message, draft_error_text(error, link.currency, tr) + "\n" + tr("edit-again"))
        return AWAIT_VALUE
    except ArchivedError:
        _forget(context)
        await _reply(message, tr("edit-archived"))
        return ConversationHandler.END
    except SlugTakenError:
        await _reply(message, tr("form-slug-taken", slug=(message.text or "").strip().lower()))
        return AWAIT_VALUE
    except ValidationFailedError as error:
        await _reply(message, provider_refusal_text(error, tr))
        return AWAIT_VALUE
    except DGSError as error:
        log.info("edit of %s failed: %s", link_id, error)
        await _reply(message, trouble_text(error, tr) + "\n" + tr("edit-again"))
        return AWAIT_VALUE
    _forget(context)
    notice = tr("edit-saved", field=tr(FIELD_SPECS[field].label or field))
    text, markup = card_parts(
        context, details, stored=stored, user_id=user.id, view=view, notice=notice
    )
    await message.reply_text(
        text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
    )
    await _strip_prompt(context, message.chat_id, state.get("prompt_id"))
    return ConversationHandler.END


def _prompt_id(press: Press) -> int | None:
    """The message the prompt was drawn in: the pressed one, when edited in place (a text
    message in private; a group's card stays as it is, the prompt went to private)."""
    message = press.query.message
    if isinstance(message, Message) and message.chat.type == "private" and message.text:
        return message.message_id
    return None


async def _strip_prompt(context: BotContext, chat_id: int, message_id: object) -> None:
    """The answered prompt loses its buttons: only the card sent below it stays live."""
    if not isinstance(message_id, int):
        return
    with contextlib.suppress(BadRequest):  # deleted or already bare
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)


async def _reply(message: Message, text: str) -> None:
    """A reply that may hold the provider's words: split rather than refused when long."""
    for part in split(text, MESSAGE_LIMIT):
        await message.reply_text(part, parse_mode=ParseMode.HTML)


async def not_text(update: Update, context: BotContext) -> str:
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("form-need-text"))
    return AWAIT_VALUE


async def cancel(update: Update, context: BotContext) -> int:
    _forget(context)
    message = update.effective_message
    if message is not None:
        await message.reply_text(context.tr("edit-cancelled"))
    return ConversationHandler.END


# --- registration ----------------------------------------------------------------------------


def _pattern(prefix: str) -> str:
    return f"^{prefix}"


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    prompts = _Prompts()
    answering = _Answering(prompts)
    # Before every flow (and in a group of its own: the first handler of a group that matches
    # is the only one to run there): notice when the user leaves a prompt for something else.
    app.add_handler(TypeHandler(Update, prompts.note), group=-2)
    app.add_handler(
        conversation(
            entry_points=[
                CallbackQueryHandler(open_menu, pattern=_pattern(EDIT)),
                CallbackQueryHandler(make_choose_field(prompts), pattern=_pattern(FIELD)),
                CallbackQueryHandler(tick_method, pattern=_pattern(METHODS)),
                CallbackQueryHandler(save_methods, pattern=_pattern(SAVE_METHODS)),
                CallbackQueryHandler(clear_value, pattern=_pattern(CLEAR)),
            ],
            states={
                AWAIT_VALUE: [
                    MessageHandler(answering & filters.TEXT & ~filters.COMMAND, receive_value),
                    MessageHandler(answering & ~filters.TEXT & ~filters.COMMAND, not_text),
                ],
            },
            fallbacks=[CommandHandler("cancel", cancel)],
            name="dashboard_edit",
            persistent=True,
            allow_reentry=True,
        )
    )
