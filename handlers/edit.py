"""**Edit** on a link card: one field at a time, one PATCH holding only that field.

    Edit ─► the field menu (current values) ─┬─ a toggle ───────────────► PATCH ─► the card
                                             ├─ Methods ─► tick, Done ──► PATCH ─► the card
                                             └─ a text field ─► AWAIT_VALUE ─(typed)─► PATCH
                                                               └─(Remove) ──────────► PATCH

Typed values go through the create form's cleaners (``bot.links``), so the same input is
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

import json
import logging
from collections.abc import Callable, Collection, Coroutine
from datetime import datetime
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks, money
from bot.bounded import LRUSet
from bot.cards import amount_line, methods_line
from bot.context import BotContext
from bot.dates import format_when
from bot.dgs.errors import ArchivedError, DGSError, SlugTakenError, ValidationFailedError
from bot.dgs.models import (
    ALL_PAYMENT_TYPES,
    KIGALI,
    Link,
    LinkDetails,
    LinkStatus,
    LinkUpdate,
    PaymentType,
)
from bot.i18n import Markup, Translator, escape
from bot.links import (
    CLIENT_REF_KEY,
    DESCRIPTION_MAX,
    TITLE_MAX,
    DraftError,
    LinkDraft,
    clean_amount,
    clean_description,
    clean_https_url,
    clean_payment_types,
    clean_slug,
    clean_title,
    parse_expiry,
    parse_max_uses,
    parse_metadata,
    update_for,
)
from bot.telegram_text import MESSAGE_LIMIT, shorten, shorten_plain, split
from handlers import gates
from handlers.common import (
    PROVIDER_FIELD_LABELS,
    amount_rule,
    conversation,
    draft_error_text,
    provider_refusal_text,
)
from handlers.links import (
    EDIT,
    NO_PREVIEW,
    Press,
    View,
    answer,
    card_parts,
    data,
    link_api_key,
    link_press,
    lister,
    put,
    show_card,
    sync_store,
    tell_trouble,
    trouble_text,
)

log = logging.getLogger(__name__)

AWAIT_VALUE: Final = "edit:await_value"
STATE_KEY: Final = "dashboard_edit"
# People remembered as having walked away from an edit prompt (see ``_Prompts``).
LEFT_PROMPTS_MAX = 10_000

FIELD: Final = "df:"
METHODS: Final = "dm:"
SAVE_METHODS: Final = "dw:"
CLEAR: Final = "dz:"
EDIT_PREFIXES: Final = (EDIT, FIELD, METHODS, SAVE_METHODS, CLEAR)

TOGGLES: Final = ("collect_phone", "collect_name", "collect_address")
TEXT_FIELDS: Final = (
    "title",
    "description",
    "amount",
    "min_amount",
    "max_amount",
    "max_uses",
    "expires_at",
    "redirect_url",
    "logo_url",
    "slug",
    "metadata",
)
CLEARABLE: Final = frozenset(
    {"description", "min_amount", "max_amount", "max_uses", "expires_at"}
    | {"redirect_url", "logo_url", "metadata"}
)
FIELDS: Final = frozenset({*TEXT_FIELDS, *TOGGLES, "payment_types"})

_LABELS: Final = {
    **PROVIDER_FIELD_LABELS,
    "collect_phone": "ask-phone",
    "collect_name": "ask-name",
    "collect_address": "ask-address",
}
_CLEAR_LABELS: Final = {"max_uses": "button-unlimited", "expires_at": "button-no-expiry"}
_TOGGLE_LABELS: Final = {
    "collect_phone": "opt-phone",
    "collect_name": "opt-name",
    "collect_address": "opt-address",
}
VALUE_PREVIEW = 80


# --- what the user sees ----------------------------------------------------------------------


def _value(link: Link, field: str, tr: Translator, *, preview: int = VALUE_PREVIEW) -> str:
    """The field's current value in words (plain text)."""
    none = tr("value-none")
    value: Any = getattr(link, field, None)
    if field in ("amount", "min_amount", "max_amount"):
        return none if value is None else money.format_amount(value, link.currency, tr.language)
    if field == "payment_types":
        return methods_line(link.payment_types, tr)
    if field == "max_uses":
        return tr("value-unlimited") if value is None else str(value)
    if field == "expires_at":
        return tr("value-never") if value is None else format_when(value, tr.language)
    if field == "metadata":
        shown = {k: v for k, v in (value or {}).items() if k != CLIENT_REF_KEY}
        if not shown:
            return none
        value = json.dumps(shown, ensure_ascii=False)
    if field in TOGGLES:
        return tr("value-on") if _collect(link, field) else tr("value-off")
    if value is None or value == "":
        return none
    return shorten_plain(" ".join(str(value).split()), preview)


def _collect(link: Link, field: str) -> bool:
    return bool(getattr(LinkDraft.for_edit(link), field))


def menu_view(link: Link, view: View, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    """The field menu: every editable field with its value, one button each."""
    asked = [tr(_LABELS[field]) for field in TOGGLES if _collect(link, field)]
    lines = [
        tr("edit-menu", title=shorten_plain(link.title, 100)),
        "",
        tr("summary-title", value=_value(link, "title", tr)),
        tr("summary-description", value=_value(link, "description", tr)),
        tr("summary-amount", value=amount_line(link, tr)),
        tr("summary-methods", value=_value(link, "payment_types", tr)),
        tr("summary-max-uses", value=_value(link, "max_uses", tr)),
        tr("summary-expiry", value=_value(link, "expires_at", tr)),
        tr("summary-redirect", value=_value(link, "redirect_url", tr)),
        tr("summary-logo", value=_value(link, "logo_url", tr)),
        tr("summary-ask", value=", ".join(asked) or tr("value-nothing")),
        tr("summary-slug", value=_value(link, "slug", tr)),
        tr("summary-metadata", value=_value(link, "metadata", tr)),
    ]
    v = view.code
    amounts = ["amount"] if link.is_fixed else ["min_amount", "max_amount"]
    order = [
        "title",
        "description",
        *amounts,
        "payment_types",
        "max_uses",
        "expires_at",
        "redirect_url",
        "logo_url",
        "slug",
        "metadata",
    ]
    buttons = [
        InlineKeyboardButton(tr(_LABELS[field]), callback_data=data(FIELD, link.id, field, v))
        for field in order
    ]
    buttons += [
        InlineKeyboardButton(
            tr(_TOGGLE_LABELS[field], value=_value(link, field, tr)),
            callback_data=data(FIELD, link.id, field, v),
        )
        for field in TOGGLES
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_back_to_card(link.id, v, tr)])
    return shorten("\n".join(lines), MESSAGE_LIMIT), InlineKeyboardMarkup(rows)


def _back_to_card(link_id: str, view_code: str, tr: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        tr("button-back"), callback_data=data(callbacks.LINK_CARD, link_id, view_code)
    )


def prompt_view(
    link: Link, field: str, view: View, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """The question for a typed value, with the value now and Remove / Back."""
    ask_params: dict[str, Any] = {"currency": link.currency}
    if field == "title":
        ask_params["max"] = TITLE_MAX
    if field == "description":
        ask_params["max"] = DESCRIPTION_MAX
    asks = [tr(f"edit-ask-{field.replace('_', '-')}", **ask_params)]
    if field in ("amount", "min_amount", "max_amount"):
        asks.append(amount_rule(tr))  # "50.000" is fifty thousand in one language, 50 in another
    text = tr(
        "edit-prompt",
        field=tr(_LABELS[field]),
        title=shorten_plain(link.title, 100),
        value=_value(link, field, tr, preview=1000),
        # Our own messages, already escaped: not to be escaped twice.
        ask=Markup("\n".join(asks)),
    )
    row = []
    # Metadata always holds the bot's own reference: only the vendor's keys count as a value.
    empty = _value(link, field, tr) == tr("value-none") if field == "metadata" else False
    if field in CLEARABLE and getattr(link, field, None) is not None and not empty:
        label = tr(_CLEAR_LABELS.get(field, "button-remove"))
        row.append(
            InlineKeyboardButton(label, callback_data=data(CLEAR, link.id, field, view.code))
        )
    row.append(
        InlineKeyboardButton(tr("button-back"), callback_data=data(EDIT, link.id, view.code))
    )
    return shorten(text, MESSAGE_LIMIT), InlineKeyboardMarkup([row])


def _mask_of(kinds: list[str]) -> int:
    chosen = set(kinds) or {kind.value for kind in ALL_PAYMENT_TYPES}
    return sum(1 << i for i, kind in enumerate(ALL_PAYMENT_TYPES) if kind.value in chosen)


def _kinds_of(mask: int) -> list[PaymentType]:
    return [kind for i, kind in enumerate(ALL_PAYMENT_TYPES) if mask & (1 << i)]


def methods_view(
    link_id: str, title: str, mask: int, view: View, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    """Ticks for each method, **Done** to save them."""
    v = view.code
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if mask & (1 << i) else "⬜ ") + tr(f"method-{kind.value}"),
                callback_data=data(METHODS, link_id, f"{mask ^ (1 << i):x}", v),
            )
        ]
        for i, kind in enumerate(ALL_PAYMENT_TYPES)
    ]
    rows.append(
        [
            InlineKeyboardButton(tr("button-back"), callback_data=data(EDIT, link_id, v)),
            InlineKeyboardButton(
                tr("button-done"), callback_data=data(SAVE_METHODS, link_id, f"{mask:x}", v)
            ),
        ]
    )
    heading = escape(shorten_plain(title, 100))
    return f"<b>{heading}</b>\n{tr('form-methods')}", InlineKeyboardMarkup(rows)


# --- building the PATCH ----------------------------------------------------------------------


def build_update(
    field: str, text: str, link: Link, language: str, now: datetime | None = None
) -> LinkUpdate:
    """The PATCH body for a typed value; ``DraftError`` when the value is refused."""
    now = now or datetime.now(KIGALI)
    draft = LinkDraft.for_edit(link)
    if field == "title":
        draft.title = clean_title(text)
    elif field == "description":
        draft.description = clean_description(text)
    elif field in ("amount", "min_amount", "max_amount"):
        setattr(draft, field, clean_amount(text, link.currency, language, field=field))
    elif field == "max_uses":
        draft.max_uses = parse_max_uses(text)
    elif field == "expires_at":
        draft.expires_at = parse_expiry(text, now)
    elif field in ("redirect_url", "logo_url"):
        setattr(draft, field, clean_https_url(text, field))
    elif field == "slug":
        draft.slug = clean_slug(text)
    elif field == "metadata":
        draft.metadata = parse_metadata(text)
    else:
        raise ValueError(f"not a typed field: {field}")
    return update_for(field, draft, now=now)


# --- the staleness of a prompt ---------------------------------------------------------------


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
    try:
        details = await context.services.dgs.get_link(press.api_key, press.link_id)
    except DGSError as error:
        await tell_trouble(press.query, context, error)
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
            mask = _mask_of(link.payment_types)
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
        kinds = clean_payment_types(kind.value for kind in _kinds_of(mask))
    except DraftError as error:
        await answer(press.query, draft_error_text(error, "", tr), alert=True)
        return ConversationHandler.END
    details = await _details_or_trouble(context, press)
    if details is None:
        return ConversationHandler.END
    if _mask_of(details.link.payment_types) == mask:
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
        changed = await context.services.dgs.update_link(press.api_key, press.link_id, body)
        lister(context).forget(press.api_key)
        details = details.model_copy(update={"link": changed})
    except ValidationFailedError as error:
        await answer(press.query, provider_refusal_text(error, tr, html=False), alert=True)
        return
    except DGSError as error:
        await tell_trouble(press.query, context, error)
        return
    notice = tr("edit-saved", field=tr(_LABELS[field]))
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
    stored = await services.repo.get_link(link_id)
    if field not in TEXT_FIELDS or stored is None:
        _forget(context)
        return ConversationHandler.END
    if not await gates.may_act_on(context, user.id, stored, fresh=True):
        _forget(context)
        await message.reply_text(tr(gates.refusal_for(stored)))
        return ConversationHandler.END
    api_key = await link_api_key(context, user.id, stored)
    if api_key is None:
        await message.reply_text(tr("need-connect"))
        return ConversationHandler.END
    try:
        before = await services.dgs.get_link(api_key, link_id)
        link = before.link
    except DGSError as error:
        await _reply(message, trouble_text(error, tr) + "\n" + tr("edit-again"))
        return AWAIT_VALUE
    try:
        if link.status == LinkStatus.ARCHIVED:
            raise ArchivedError("the link is archived", status_code=410)
        body = build_update(field, message.text or "", link, tr.language)
        changed = await services.dgs.update_link(api_key, link_id, body)
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
    lister(context).forget(api_key)
    details = before.model_copy(update={"link": changed})
    stored = await sync_store(context, stored, api_key, details.link)
    notice = tr("edit-saved", field=tr(_LABELS[field]))
    text, markup = card_parts(
        context, details, stored=stored, user_id=user.id, view=view, notice=notice
    )
    await message.reply_text(
        text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
    )
    return ConversationHandler.END


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
