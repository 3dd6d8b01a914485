"""``/new``: the step-by-step form, quick create, and Duplicate — one conversation.

The state diagram is ``docs/create-form.mmd``. The main path::

    KIND ─► TITLE ─► CURRENCY ─(Other)─► CURRENCY_OTHER ─┐
                         └──────────────────────────────┴─► AMOUNT (fixed) ─────────┐
                                                          └► MIN ─► MAX (flexible) ─┴─► SUMMARY
    SUMMARY ─(More options)─► OPTIONS ─► METHODS | MAX_USES | EXPIRY | DESCRIPTION | SLUG
                                         | REDIRECT | LOGO | METADATA ─► OPTIONS
    SUMMARY ─(Create link)─► END (QR card) | the refused field's step | FAILED ─(Try again)─► …

The answers live in ``user_data["form"]`` (persisted): a form id, the ``LinkDraft`` as JSON,
the stack of steps (for **Back**) and the last activity time. Buttons carry the form id, so a
button of an old or finished form answers "this form is closed" instead of acting.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import wraps
from typing import Any, Final

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks, money
from bot.cards import methods_line
from bot.context import BotContext
from bot.dates import format_when
from bot.dgs.errors import (
    AuthError,
    DGSError,
    NotFoundError,
    SlugTakenError,
    ValidationFailedError,
)
from bot.dgs.models import ALL_PAYMENT_TYPES, KIGALI, AmountType, Link, LinkDetails, PaymentType
from bot.drive import GOAL_KEY, SUGGESTED_KEY
from bot.i18n import Markup, Translator, escape
from bot.links import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    DraftError,
    LinkDraft,
    check_amounts,
    clean_amount,
    clean_currency,
    clean_description,
    clean_https_url,
    clean_slug,
    clean_title,
    parse_expiry,
    parse_max_uses,
    parse_metadata,
    suggest_slug,
)
from bot.quick import QuickUsageError, parse_quick
from bot.store.drives import Drive
from handlers import start
from handlers.cards import send_link_card
from handlers.common import (
    amount_rule,
    conversation,
    draft_error_text,
    provider_refusal_text,
    require_api_key,
    typed_separators,
)
from handlers.drive import names_keyboard, post_drive_card
from handlers.gates import admins_only, is_chat_admin, owned_link

log = logging.getLogger(__name__)

# States (strings, so a persisted conversation reads plainly in the database).
KIND: Final = "form:kind"
TITLE: Final = "form:title"
CURRENCY: Final = "form:currency"
CURRENCY_OTHER: Final = "form:currency_other"
AMOUNT: Final = "form:amount"
MIN: Final = "form:min"
MAX: Final = "form:max"
SUMMARY: Final = "form:summary"
OPTIONS: Final = "form:options"
METHODS: Final = "form:methods"
MAX_USES: Final = "form:max_uses"
EXPIRY: Final = "form:expiry"
DESCRIPTION: Final = "form:description"
SLUG: Final = "form:slug"
REDIRECT: Final = "form:redirect_url"
LOGO: Final = "form:logo_url"
METADATA: Final = "form:metadata"
FAILED: Final = "form:failed"
GOAL: Final = "form:goal"  # drives only
SUGGESTED: Final = "form:suggested"  # drives only

END: Final = ConversationHandler.END
IDLE_LIMIT_SECONDS: Final = 24 * 3600
GROUP_FORM_START: Final = r"^/start (new|drive)_-\d+$"
SUGGESTED_SEPARATORS: Final = re.compile(r"\s*;\s*|,\s+|\s{2,}|\n")
COMMON_CURRENCIES: Final = ("RWF", "USD", "EUR", "KES", "UGX", "TZS")
EXPIRY_DAYS: Final = (1, 7, 30)
MAX_USES_CHOICES: Final = (1, 10, 100)

# Which step asks for a field the provider (or the draft check) refused.
FIELD_STEPS: Final = {
    "kind": KIND,
    "title": TITLE,
    "currency": CURRENCY,
    "amount": AMOUNT,
    "min_amount": MIN,
    "max_amount": MAX,
    "payment_types": METHODS,
    "max_uses": MAX_USES,
    "expires_at": EXPIRY,
    "description": DESCRIPTION,
    "slug": SLUG,
    "redirect_url": REDIRECT,
    "logo_url": LOGO,
    "metadata": METADATA,
}
TEXT_STEPS: Final = frozenset(
    {TITLE, CURRENCY_OTHER, AMOUNT, MIN, MAX, MAX_USES, EXPIRY, DESCRIPTION, SLUG, GOAL}
    | {SUGGESTED}
    | {REDIRECT, LOGO, METADATA}
)
OPTIONAL_TEXT_FIELDS: Final = {
    DESCRIPTION: "description",
    SLUG: "slug",
    REDIRECT: "redirect_url",
    LOGO: "logo_url",
    METADATA: "metadata",
}
COLLECT_FIELDS: Final = {
    "phone": "collect_phone",
    "name": "collect_name",
    "address": "collect_address",
}


# --- the form's data -----------------------------------------------------------------------


@dataclass
class Form:
    """The form as kept in ``user_data["form"]``."""

    id: str
    draft: LinkDraft
    steps: list[str] = field(default_factory=list)
    touched: float = field(default_factory=time.time)
    group_chat_id: int | None = None  # the group the link is made for (deep link)
    drive: bool = False  # a donation drive: flexible, with a goal and suggested amounts
    suggested: list[str] = field(default_factory=list)  # decimal strings

    @property
    def step(self) -> str:
        return self.steps[-1] if self.steps else KIND

    def save(self, user_data: dict[str, Any]) -> None:
        self.touched = time.time()
        user_data["form"] = {
            "id": self.id,
            "draft": self.draft.model_dump(mode="json"),
            "steps": list(self.steps),
            "touched": self.touched,
            "group_chat_id": self.group_chat_id,
            "drive": self.drive,
            "suggested": list(self.suggested),
        }

    @classmethod
    def load(cls, user_data: dict[str, Any]) -> Form | None:
        raw = user_data.get("form")
        if not isinstance(raw, dict):
            return None
        return cls(
            id=str(raw["id"]),
            draft=LinkDraft.model_validate(raw["draft"]),
            steps=list(raw.get("steps", [])),
            touched=float(raw.get("touched", 0)),
            group_chat_id=raw.get("group_chat_id"),
            drive=bool(raw.get("drive", False)),
            suggested=[str(value) for value in raw.get("suggested", [])],
        )

    @classmethod
    def new(cls, draft: LinkDraft | None = None) -> Form:
        return cls(id=uuid.uuid4().hex[:8], draft=draft or LinkDraft())


def button(form: Form, label: str, action: str, arg: str = "") -> InlineKeyboardButton:
    data = f"f:{form.id}:{action}:{arg}"
    return InlineKeyboardButton(label, callback_data=data)


def parse_data(data: str) -> tuple[str, str, str]:
    """``f:<form id>:<action>:<arg>`` → (form id, action, arg)."""
    _, form_id, action, arg = [*data.split(":", 3), "", ""][:4]
    return form_id, action, arg


# --- prompts: what each step says and which buttons it shows --------------------------------


Prompt = tuple[str, InlineKeyboardMarkup]


def _nav(form: Form, tr: Translator, *, back: bool = True) -> list[InlineKeyboardButton]:
    row = [button(form, tr("button-back"), "back")] if back else []
    row.append(button(form, tr("button-cancel"), "cancel"))
    return row


def _amount_text(value: Decimal | None, currency: str | None, tr: Translator) -> str:
    if value is None or not currency:
        return tr("value-none")
    return money.format_amount(value, currency, tr.language)


def _keep(form: Form, tr: Translator, shown: str | None) -> list[list[InlineKeyboardButton]]:
    if not shown:
        return []
    return [[button(form, tr.plain("button-keep", value=shown[:40]), "keep")]]


def prompt_kind(form: Form, tr: Translator) -> Prompt:
    rows = [
        [
            button(form, tr("form-kind-fixed"), "kind", AmountType.FIXED),
            button(form, tr("form-kind-flexible"), "kind", AmountType.FLEXIBLE),
        ],
        _nav(form, tr, back=False),
    ]
    return tr("form-kind"), InlineKeyboardMarkup(rows)


def prompt_title(form: Form, tr: Translator) -> Prompt:
    rows = [*_keep(form, tr, form.draft.title), _nav(form, tr)]
    return tr("form-title", max=TITLE_MAX), InlineKeyboardMarkup(rows)


def prompt_currency(form: Form, tr: Translator, default: str) -> Prompt:
    codes = [default, *[c for c in COMMON_CURRENCIES if c != default]]
    buttons = [button(form, code, "cur", code) for code in codes]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append([button(form, tr("form-currency-other-button"), "cur", "other")])
    rows.append(_nav(form, tr))
    return tr("form-currency"), InlineKeyboardMarkup(rows)


def prompt_currency_other(form: Form, tr: Translator) -> Prompt:
    return tr("form-currency-other"), InlineKeyboardMarkup([_nav(form, tr)])


def _example(currency: str, tr: Translator) -> str:
    """Amounts written with the language's own separators (``50.000`` in Kinyarwanda)."""
    group, decimal = typed_separators(tr.language)
    # Not ", ": the comma is a decimal sign in some languages and a group sign in others.
    if money.currency_digits(currency) == 0:
        return " / ".join(["50000", f"50{group}000", "50k"])
    return " / ".join(["25", f"25{decimal}50", f"1{group}500"])


def _amount_prompt(form: Form, tr: Translator, key: str, value: Decimal | None) -> Prompt:
    currency = form.draft.currency or ""
    text = "\n".join([tr(key, currency=currency, example=_example(currency, tr)), amount_rule(tr)])
    rows = _keep(form, tr, _amount_text(value, currency, tr) if value is not None else None)
    if key in ("form-min", "form-max"):
        rows.append([button(form, tr("button-skip"), "skip")])
    rows.append(_nav(form, tr))
    return text, InlineKeyboardMarkup(rows)


def summary_lines(draft: LinkDraft, tr: Translator) -> list[str]:
    """The draft as the summary shows it, one escaped line per answer."""
    currency = draft.currency or ""
    if draft.kind == AmountType.FIXED:
        amount = _amount_text(draft.amount, currency, tr)
    else:
        low = draft.min_amount and money.format_amount(draft.min_amount, currency, tr.language)
        high = draft.max_amount and money.format_amount(draft.max_amount, currency, tr.language)
        if low and high:
            amount = tr("amount-range", low=low, high=high)
        elif low:
            amount = tr("amount-from", low=low)
        elif high:
            amount = tr("amount-up-to", high=high)
        else:
            amount = tr("amount-any", currency=currency)
    lines = [
        tr("summary-title", value=draft.title or ""),
        tr("summary-amount", value=Markup(escape(amount))),
        tr("summary-methods", value=_methods_value(draft, tr)),
    ]
    if draft.max_uses is not None:
        lines.append(tr("summary-max-uses", value=str(draft.max_uses)))
    if draft.expires_at is not None:
        lines.append(tr("summary-expiry", value=format_when(draft.expires_at, tr.language)))
    optional = (
        ("summary-description", draft.description),
        ("summary-slug", draft.slug),
        ("summary-redirect", draft.redirect_url),
        ("summary-logo", draft.logo_url),
    )
    lines += [tr(key, value=value[:200]) for key, value in optional if value]
    asked = [tr(f"ask-{name}") for name, attr in COLLECT_FIELDS.items() if getattr(draft, attr)]
    lines.append(tr("summary-ask", value=", ".join(asked) if asked else tr("value-nothing")))
    if draft.metadata:
        count = len(draft.metadata)
        lines.append(tr("summary-metadata", value=tr.plural("value-keys", count)))
    return lines


def _methods_value(draft: LinkDraft, tr: Translator) -> str:
    if len(draft.payment_types) == len(ALL_PAYMENT_TYPES):
        return tr("value-all-methods")
    return methods_line([kind.value for kind in draft.payment_types], tr)


def form_summary_lines(form: Form, tr: Translator) -> list[str]:
    """The summary's lines; a drive's goal and suggested amounts come after the amount."""
    lines = summary_lines(form.draft, tr)
    currency = form.draft.currency or ""
    if form.drive and form.draft.goal is not None:
        lines.insert(
            2,
            tr("summary-goal", value=money.format_amount(form.draft.goal, currency, tr.language)),
        )
        if form.suggested:
            amounts = ", ".join(
                money.format_amount(Decimal(a), currency, tr.language) for a in form.suggested
            )
            lines.insert(3, tr("summary-suggested", value=amounts))
    return lines


def prompt_summary(form: Form, tr: Translator) -> Prompt:
    text = tr("form-summary", details=Markup("\n".join(form_summary_lines(form, tr))))
    rows = [
        [button(form, tr("button-create"), "create")],
        [button(form, tr("button-more-options"), "more")],
        _nav(form, tr),
    ]
    return text, InlineKeyboardMarkup(rows)


def prompt_options(form: Form, tr: Translator) -> Prompt:
    draft = form.draft
    none = tr("value-none")

    def short(value: str | None, empty: str = none) -> str:
        return empty if not value else (value if len(value) <= 24 else value[:23] + "…")

    def on_off(value: bool) -> str:
        return tr("value-on") if value else tr("value-off")

    expiry = format_when(draft.expires_at, tr.language) if draft.expires_at else tr("value-never")
    rows = [
        [button(form, tr.plain("opt-methods", value=_methods_value(draft, tr)), "opt", "methods")],
        [
            button(
                form,
                tr.plain("opt-max-uses", value=str(draft.max_uses or tr("value-unlimited"))),
                "opt",
                "max_uses",
            )
        ],
        [button(form, tr.plain("opt-expiry", value=expiry), "opt", "expiry")],
        [
            button(
                form,
                tr.plain("opt-description", value=short(draft.description)),
                "opt",
                "description",
            )
        ],
        [
            button(
                form,
                tr.plain("opt-slug", value=short(draft.slug, tr("value-automatic"))),
                "opt",
                "slug",
            )
        ],
        [
            button(
                form, tr.plain("opt-redirect", value=short(draft.redirect_url)), "opt", "redirect"
            )
        ],
        [button(form, tr.plain("opt-logo", value=short(draft.logo_url)), "opt", "logo")],
        [
            button(form, tr.plain(f"opt-{name}", value=on_off(getattr(draft, attr))), "col", name)
            for name, attr in COLLECT_FIELDS.items()
        ],
        [
            button(
                form,
                tr.plain(
                    "opt-metadata",
                    value=tr.plural("value-keys", len(draft.metadata)) if draft.metadata else none,
                ),
                "opt",
                "metadata",
            )
        ],
        [button(form, tr("button-summary"), "back")],
    ]
    return tr("form-options"), InlineKeyboardMarkup(rows)


def _capitalized(label: str) -> str:
    return label[:1].upper() + label[1:]


def prompt_methods(form: Form, tr: Translator) -> Prompt:
    chosen = set(form.draft.payment_types)
    toggles = []
    for kind in ALL_PAYMENT_TYPES:
        label = _capitalized(tr(f"method-{kind.value}"))
        mark = "✅" if kind in chosen else "⬜"
        toggles.append(button(form, f"{mark} {label}", "pt", kind))
    rows = [toggles[:2], toggles[2:], [button(form, tr("button-done"), "back")]]
    return tr("form-methods"), InlineKeyboardMarkup(rows)


def prompt_max_uses(form: Form, tr: Translator) -> Prompt:
    choices = [button(form, str(n), "mu", str(n)) for n in MAX_USES_CHOICES]
    choices.append(button(form, tr("button-unlimited"), "mu", "none"))
    return tr("form-max-uses"), InlineKeyboardMarkup([choices, _nav(form, tr)])


def prompt_expiry(form: Form, tr: Translator) -> Prompt:
    choices = [button(form, tr.plural("button-in-days", n), "ex", str(n)) for n in EXPIRY_DAYS]
    rows = [choices, [button(form, tr("button-no-expiry"), "ex", "none")], _nav(form, tr)]
    return tr("form-expiry"), InlineKeyboardMarkup(rows)


def _text_option(form: Form, tr: Translator, key: str, **params: Any) -> Prompt:
    rows = [[button(form, tr("button-remove"), "clear")], _nav(form, tr)]
    return tr(key, **params), InlineKeyboardMarkup(rows)


def prompt_slug(form: Form, tr: Translator) -> Prompt:
    suggestion = suggest_slug(form.draft.title or "") if form.draft.title else None
    rows = []
    if suggestion:
        rows.append(
            [button(form, tr.plain("button-use-slug", slug=suggestion), "slug", suggestion)]
        )
    rows += [[button(form, tr("button-remove"), "clear")], _nav(form, tr)]
    return tr("form-slug"), InlineKeyboardMarkup(rows)


def prompt_goal(form: Form, tr: Translator) -> Prompt:
    return _amount_prompt(form, tr, "form-goal", form.draft.goal)


def prompt_suggested(form: Form, tr: Translator) -> Prompt:
    currency = form.draft.currency or ""
    rows = [[button(form, tr("button-skip"), "skip")], _nav(form, tr)]
    example = "5000, 10000, 20000" if money.currency_digits(currency) == 0 else "5, 10, 20"
    return tr("form-suggested", currency=currency, example=example), InlineKeyboardMarkup(rows)


def prompt_failed(form: Form, tr: Translator) -> Prompt:
    rows = [[button(form, tr("button-try-again"), "create")], _nav(form, tr)]
    return tr("form-provider-down"), InlineKeyboardMarkup(rows)


def prompt_for(step: str, form: Form, context: BotContext, default_currency: str) -> Prompt:
    tr = context.tr
    prompts: dict[str, Callable[[], Prompt]] = {
        KIND: lambda: prompt_kind(form, tr),
        TITLE: lambda: prompt_title(form, tr),
        CURRENCY: lambda: prompt_currency(form, tr, default_currency),
        CURRENCY_OTHER: lambda: prompt_currency_other(form, tr),
        AMOUNT: lambda: _amount_prompt(form, tr, "form-amount", form.draft.amount),
        MIN: lambda: _amount_prompt(form, tr, "form-min", form.draft.min_amount),
        MAX: lambda: _amount_prompt(form, tr, "form-max", form.draft.max_amount),
        SUMMARY: lambda: prompt_summary(form, tr),
        OPTIONS: lambda: prompt_options(form, tr),
        METHODS: lambda: prompt_methods(form, tr),
        MAX_USES: lambda: prompt_max_uses(form, tr),
        EXPIRY: lambda: prompt_expiry(form, tr),
        DESCRIPTION: lambda: _text_option(form, tr, "form-description", max=DESCRIPTION_MAX),
        SLUG: lambda: prompt_slug(form, tr),
        REDIRECT: lambda: _text_option(form, tr, "form-redirect"),
        LOGO: lambda: _text_option(form, tr, "form-logo"),
        METADATA: lambda: _text_option(form, tr, "form-metadata"),
        FAILED: lambda: prompt_failed(form, tr),
        GOAL: lambda: prompt_goal(form, tr),
        SUGGESTED: lambda: prompt_suggested(form, tr),
    }
    return prompts[step]()


# --- showing a step ------------------------------------------------------------------------


async def _default_currency(update: Update, context: BotContext) -> str:
    users = context.services.users
    user = update.effective_user
    row = await users.seen(user.id) if user else None
    return users.currency_of(row)


async def show(
    update: Update,
    context: BotContext,
    form: Form,
    step: str,
    *,
    push: bool = True,
    notice: str | None = None,
) -> str:
    """Shows ``step`` (editing the form's message after a button, else a new message),
    with ``notice`` (an error or a note) above it; saves the form; returns the step."""
    if push and form.step != step:
        form.steps.append(step)
    form.save(context.user_data)  # type: ignore[arg-type]
    text, keyboard = prompt_for(step, form, context, await _default_currency(update, context))
    if notice:
        text = f"{notice}\n\n{text}"
    query = update.callback_query
    if query is not None and notice is None and query.message is not None:
        try:
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        return step
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    return step


def error_text(error: DraftError, form: Form, tr: Translator) -> str:
    """A refused answer in words, its amounts formatted in the form's currency."""
    return draft_error_text(error, form.draft.currency or "", tr)


# --- the gate every step goes through --------------------------------------------------------

Step = Callable[[Update, BotContext, Form], Awaitable[str | int]]


def form_step(
    handler: Step,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, str | int | None]]:
    """Loads the form; ends it quietly after 24 h idle; answers buttons of another form
    "closed" (nothing happens); acknowledges the button press before the step runs."""

    @wraps(handler)
    async def run(update: Update, context: BotContext) -> str | int | None:
        form = Form.load(context.user_data)  # type: ignore[arg-type]
        query = update.callback_query
        if form is None or time.time() - form.touched > IDLE_LIMIT_SECONDS:
            context.user_data.pop("form", None)  # type: ignore[union-attr]
            if query is not None:
                await query.answer(context.tr("form-closed"), show_alert=True)
            return END
        if query is not None:
            form_id, _, _ = parse_data(query.data or "")
            if form_id != form.id:
                await query.answer(context.tr("form-closed"), show_alert=True)
                return None
            await query.answer()
        return await handler(update, context, form)

    return run


def _arg(update: Update) -> str:
    query = update.callback_query
    return parse_data(query.data or "")[2] if query else ""


def _text(update: Update) -> str:
    message = update.effective_message
    return (message.text or "") if message else ""


# --- entry points --------------------------------------------------------------------------


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
        details = await context.services.dgs.get_link(api_key, link_id)
    except NotFoundError:
        await query.answer(context.tr("not-your-link"), show_alert=True)
        return None
    except DGSError:
        await query.answer(context.tr("form-provider-down"), show_alert=True)
        return None
    await query.answer()
    form = Form.new(LinkDraft.from_link(details.link))
    form.steps = [KIND, TITLE, CURRENCY]
    # A new message: the pressed one is an alert or a card that should stay as it is.
    return await show(update, context, form, SUMMARY, notice=context.tr("form-duplicated"))


# --- the main path -------------------------------------------------------------------------


@form_step
async def got_kind(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores fixed/flexible (clearing amounts of the other kind); asks TITLE."""
    kind = AmountType(_arg(update))
    if form.draft.kind != kind:
        form.draft.amount = form.draft.min_amount = form.draft.max_amount = None
    form.draft.kind = kind
    return await show(update, context, form, TITLE)


@form_step
async def got_title(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the title (1–100 characters); asks CURRENCY."""
    try:
        form.draft.title = clean_title(_text(update))
    except DraftError as error:
        return await show(update, context, form, TITLE, notice=error_text(error, form, context.tr))
    return await show(update, context, form, CURRENCY)


@form_step
async def keep(update: Update, context: BotContext, form: Form) -> str | int:
    """**Keep** on a text step: the answer given before stands; asks the next step."""
    return await show(update, context, form, _next_after(form.step, form))


def _next_after(step: str, form: Form) -> str:
    if step == TITLE:
        return CURRENCY
    if step in (CURRENCY, CURRENCY_OTHER):
        if form.drive:
            return GOAL
        return AMOUNT if form.draft.kind == AmountType.FIXED else MIN
    if step == GOAL:
        return SUGGESTED
    if step == MIN:
        return MAX
    return SUMMARY


@form_step
async def got_currency(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the currency button's code, or asks CURRENCY_OTHER; else asks the amount."""
    code = _arg(update)
    if code == "other":
        return await show(update, context, form, CURRENCY_OTHER)
    return await _set_currency(update, context, form, code)


@form_step
async def got_currency_code(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores a typed ISO 4217 code; asks AMOUNT or MIN."""
    return await _set_currency(update, context, form, _text(update))


async def _set_currency(update: Update, context: BotContext, form: Form, code: str) -> str:
    try:
        currency = clean_currency(code)
    except DraftError as error:
        return await show(
            update, context, form, form.step, notice=error_text(error, form, context.tr)
        )
    if currency != form.draft.currency:
        # Amounts typed for another currency may not fit this one's minor units.
        form.draft.amount = form.draft.min_amount = form.draft.max_amount = None
    form.draft.currency = currency
    return await show(update, context, form, _next_after(CURRENCY, form))


async def _amount_step(
    update: Update, context: BotContext, form: Form, field_name: str, next_step: str
) -> str:
    tr = context.tr
    try:
        value = clean_amount(
            _text(update), form.draft.currency or "", tr.language, field=field_name
        )
        setattr(form.draft, field_name, value)
        if field_name == "max_amount":
            check_amounts(form.draft)
    except DraftError as error:
        if field_name == "max_amount":
            form.draft.max_amount = None
        return await show(update, context, form, form.step, notice=error_text(error, form, tr))
    notice = None
    if next_step not in (MIN, MAX) and _SEPARATOR_TYPED.search(_text(update)):
        # "50.000" means 50 000 in one language and 50 in another: say how it was read.
        notice = amount_rule(tr)
    return await show(update, context, form, next_step, notice=notice)


_SEPARATOR_TYPED = re.compile(r"\d[.,]\d")


@form_step
async def got_amount(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the fixed amount (checked against the currency's minor units); asks SUMMARY."""
    return await _amount_step(update, context, form, "amount", SUMMARY)


@form_step
async def got_min(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the smallest amount a payer may give; asks MAX."""
    return await _amount_step(update, context, form, "min_amount", MAX)


@form_step
async def got_max(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the largest amount (min ≤ max); asks SUMMARY."""
    return await _amount_step(update, context, form, "max_amount", SUMMARY)


@form_step
async def got_goal(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores a drive's goal (an amount of its currency); asks SUGGESTED."""
    return await _amount_step(update, context, form, "goal", SUGGESTED)


@form_step
async def got_suggested(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores up to four suggested amounts (``5000, 10000``); asks SUMMARY."""
    tr = context.tr
    # Amounts are separated by ", " (a comma and a space), ";" or new lines: a bare comma is
    # the decimal sign in French and Kinyarwanda (2,50) and groups thousands in English.
    parts = [part for part in SUGGESTED_SEPARATORS.split(_text(update)) if part.strip()]
    try:
        amounts = [
            clean_amount(part, form.draft.currency or "", tr.language, field="suggested")
            for part in parts[:4]
        ]
    except DraftError as error:
        return await show(update, context, form, SUGGESTED, notice=error_text(error, form, tr))
    form.suggested = [str(amount) for amount in sorted(set(amounts))]
    return await show(update, context, form, SUMMARY)


@form_step
async def skip(update: Update, context: BotContext, form: Form) -> str | int:
    """**Skip** on MIN, MAX or SUGGESTED: nothing set; asks the next step."""
    if form.step == SUGGESTED:
        form.suggested = []
        return await show(update, context, form, SUMMARY)
    if form.step == MIN:
        form.draft.min_amount = None
        return await show(update, context, form, MAX)
    form.draft.max_amount = None
    return await show(update, context, form, SUMMARY)


# --- more options --------------------------------------------------------------------------


@form_step
async def more_options(update: Update, context: BotContext, form: Form) -> str | int:
    """**More options** on the summary: asks OPTIONS."""
    return await show(update, context, form, OPTIONS)


OPTION_STEPS: Final = {
    "methods": METHODS,
    "max_uses": MAX_USES,
    "expiry": EXPIRY,
    "description": DESCRIPTION,
    "slug": SLUG,
    "redirect": REDIRECT,
    "logo": LOGO,
    "metadata": METADATA,
}


@form_step
async def pick_option(update: Update, context: BotContext, form: Form) -> str | int:
    """An option's button: asks that option's step."""
    return await show(update, context, form, OPTION_STEPS[_arg(update)])


@form_step
async def toggle_collect(update: Update, context: BotContext, form: Form) -> str | int:
    """Ask phone / name / address toggles: flips it; shows OPTIONS again."""
    attr = COLLECT_FIELDS[_arg(update)]
    setattr(form.draft, attr, not getattr(form.draft, attr))
    return await show(update, context, form, OPTIONS, push=False)


@form_step
async def toggle_method(update: Update, context: BotContext, form: Form) -> str | int:
    """A method's toggle (at least one stays on); shows METHODS again."""
    kind = PaymentType(_arg(update))
    chosen = list(form.draft.payment_types)
    if kind in chosen:
        if len(chosen) == 1:
            query = update.callback_query
            assert query is not None
            # Already answered by the gate; an alert needs a fresh answer, so say it inline.
            return await show(
                update, context, form, METHODS, notice=context.tr("form-methods-keep-one")
            )
        chosen.remove(kind)
    else:
        chosen.append(kind)
    form.draft.payment_types = [k for k in ALL_PAYMENT_TYPES if k in chosen]
    return await show(update, context, form, METHODS, push=False)


async def _back_to_options(
    update: Update, context: BotContext, form: Form, notice: str | None = None
) -> str:
    if form.steps and form.steps[-1] != OPTIONS:
        form.steps.pop()
    return await show(update, context, form, OPTIONS, notice=notice)


@form_step
async def max_uses_button(update: Update, context: BotContext, form: Form) -> str | int:
    """1 / 10 / 100 / Unlimited: stores max uses; shows OPTIONS."""
    arg = _arg(update)
    form.draft.max_uses = None if arg == "none" else int(arg)
    return await _back_to_options(update, context, form)


@form_step
async def got_max_uses(update: Update, context: BotContext, form: Form) -> str | int:
    """A typed number of uses; shows OPTIONS."""
    try:
        form.draft.max_uses = parse_max_uses(_text(update))
    except DraftError as error:
        return await show(
            update, context, form, MAX_USES, notice=error_text(error, form, context.tr)
        )
    return await _back_to_options(update, context, form)


@form_step
async def expiry_button(update: Update, context: BotContext, form: Form) -> str | int:
    """In 1 / 7 / 30 days or No expiry: stores the expiry; shows OPTIONS with it in Kigali time."""
    arg = _arg(update)
    if arg == "none":
        form.draft.expires_at = None
        return await _back_to_options(update, context, form)
    moment = datetime.now(KIGALI).replace(second=0, microsecond=0) + timedelta(days=int(arg))
    form.draft.expires_at = moment
    return await _expiry_set(update, context, form)


@form_step
async def got_expiry(update: Update, context: BotContext, form: Form) -> str | int:
    """A typed date/time (Kigali, in the future); shows OPTIONS with it read back."""
    try:
        form.draft.expires_at = parse_expiry(_text(update), datetime.now(KIGALI))
    except DraftError as error:
        return await show(
            update, context, form, EXPIRY, notice=error_text(error, form, context.tr)
        )
    return await _expiry_set(update, context, form)


async def _expiry_set(update: Update, context: BotContext, form: Form) -> str:
    assert form.draft.expires_at is not None
    when = format_when(form.draft.expires_at, context.tr.language)
    return await _back_to_options(
        update, context, form, notice=context.tr("form-expiry-set", when=when)
    )


TEXT_CLEANERS: Final[dict[str, Callable[[str], Any]]] = {
    "description": clean_description,
    "slug": clean_slug,
    "redirect_url": lambda text: clean_https_url(text, "redirect_url"),
    "logo_url": lambda text: clean_https_url(text, "logo_url"),
    "metadata": parse_metadata,
}


@form_step
async def got_text_option(update: Update, context: BotContext, form: Form) -> str | int:
    """Description, slug, redirect URL, logo URL or metadata, checked; shows OPTIONS."""
    attr = OPTIONAL_TEXT_FIELDS[form.step]
    try:
        setattr(form.draft, attr, TEXT_CLEANERS[attr](_text(update)))
    except DraftError as error:
        return await show(
            update, context, form, form.step, notice=error_text(error, form, context.tr)
        )
    return await _back_to_options(update, context, form)


@form_step
async def use_slug(update: Update, context: BotContext, form: Form) -> str | int:
    """The suggested slug's button: stores it; shows OPTIONS."""
    form.draft.slug = clean_slug(_arg(update))
    return await _back_to_options(update, context, form)


@form_step
async def clear_option(update: Update, context: BotContext, form: Form) -> str | int:
    """**Remove** on an optional step: back to the provider's default; shows OPTIONS."""
    attr = OPTIONAL_TEXT_FIELDS.get(form.step)
    if attr is not None:
        setattr(form.draft, attr, None)
    return await _back_to_options(update, context, form)


# --- create --------------------------------------------------------------------------------


@form_step
async def create(update: Update, context: BotContext, form: Form) -> str | int:
    """**Create link** / **Try again**: validates, creates once per client reference,
    posts the QR card and ends; on a refusal returns to the refused field's step."""
    tr = context.tr
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None
    assert chat is not None
    api_key = await require_api_key(update, context)
    if api_key is None:
        return form.step
    draft = form.draft
    try:
        draft.validate_complete()
    except DraftError as error:
        step = FIELD_STEPS.get(error.field, SUMMARY)
        return await show(update, context, form, step, notice=error_text(error, form, tr))
    if form.group_chat_id is not None and not await _still_admin(update, context, form):
        return END
    if form.drive and draft.goal is not None:
        # The goal travels with the link too, so the provider's dashboard shows it.
        draft.metadata = {
            **(draft.metadata or {}),
            GOAL_KEY: str(draft.goal),
            **({SUGGESTED_KEY: ",".join(form.suggested)} if form.suggested else {}),
        }
    first_attempt = draft.client_ref is None
    if first_attempt:
        # Saved before the call: a retry, even after a crash, reuses it and never makes a
        # second link (a retry looks it up first; the first try need not).
        draft.client_ref = uuid.uuid4().hex
        form.save(context.user_data)  # type: ignore[arg-type]
        await context.application.update_persistence()
    services = context.services
    try:
        link = await services.links.create(
            draft,
            api_key=api_key,
            owner_user_id=user.id,
            chat_id=chat.id,
            group_chat_id=form.group_chat_id,
            first_attempt=first_attempt,
        )
    except SlugTakenError:
        return await show(
            update, context, form, SLUG, notice=tr("form-slug-taken", slug=draft.slug or "")
        )
    except ValidationFailedError as error:
        return await _provider_refused(update, context, form, error)
    except AuthError:
        return await show(update, context, form, FAILED, notice=tr("form-key-refused"))
    except DGSError as error:
        log.warning("create failed for user %s: %s", user.id, error)
        return await show(update, context, form, FAILED)
    # The link exists (and is recorded, or being recorded): from here on nothing may end in
    # "try again", and the form is over, so a second press makes nothing.
    context.user_data.pop("form", None)  # type: ignore[union-attr]
    await _hand_over(update, context, form, link)
    return END


async def _hand_over(update: Update, context: BotContext, form: Form, link: Link) -> None:
    """The made link's card, where it belongs; a Telegram failure is logged, never raised."""
    tr = context.tr
    chat = update.effective_chat
    assert chat is not None
    query = update.callback_query
    if query is not None and query.message is not None:
        # The summary becomes a record of what was made; its buttons go away.
        text = tr("form-summary", details=Markup("\n".join(form_summary_lines(form, tr))))
        try:
            await query.edit_message_text(text.rsplit("\n\n", 1)[0], parse_mode=ParseMode.HTML)
        except TelegramError:
            log.debug("could not close the summary message", exc_info=True)
    posted = False
    if form.group_chat_id is not None:
        try:
            posted = await _post_in_group(context, form, link)
        except Exception:
            log.exception("link %s: could not post it in group %s", link.id, form.group_chat_id)
    try:
        if posted:
            assert form.group_chat_id is not None
            keyboard = None
            if form.drive:
                group = await context.services.groups.get(form.group_chat_id)
                anonymous = bool(group and group.anonymous_totals)
                keyboard = names_keyboard(form.group_chat_id, anonymous, tr)
            await context.bot.send_message(chat.id, tr("group-posted"), reply_markup=keyboard)
        elif await send_link_card(context, chat.id, link) is not None:
            await context.bot.send_message(chat.id, tr("form-created"))
    except Exception:
        log.warning("link %s: made, but the closing message failed", link.id, exc_info=True)


async def _still_admin(update: Update, context: BotContext, form: Form) -> bool:
    """A group's form is finished by an admin of it now, not five minutes ago: a demoted or
    kicked admin's form ends here, before anything is made."""
    assert form.group_chat_id is not None
    user, chat = update.effective_user, update.effective_chat
    assert user is not None
    assert chat is not None
    if await is_chat_admin(context, form.group_chat_id, user.id, fresh=True):
        return True
    context.user_data.pop("form", None)  # type: ignore[union-attr]
    query = update.callback_query
    if query is not None:
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
    group = await context.services.groups.get(form.group_chat_id)
    title = group.title if group else str(form.group_chat_id)
    await context.bot.send_message(chat.id, context.tr("group-no-longer-admin", group=title))
    return False


async def _post_in_group(context: BotContext, form: Form, link: Link) -> bool:
    """The new link's card in its group (a drive card for a drive); False if Telegram took
    neither the picture nor the text."""
    assert form.group_chat_id is not None
    services = context.services
    group = await services.groups.get(form.group_chat_id)
    language = group.language if group and group.language else context.tr.language
    tr = services.catalogues.translator(language)
    if form.drive and form.draft.goal is not None:
        drive = await _record_drive(context, form, link)
        return await post_drive_card(context, LinkDetails(link=link), drive, tr) is not None
    return await send_link_card(context, form.group_chat_id, link, tr=tr) is not None


async def _record_drive(context: BotContext, form: Form, link: Link) -> Drive:
    """The drive's row, written behind its link's record (retried in the background when the
    store refuses, like the link's): the card is posted either way."""
    group_chat_id, goal = form.group_chat_id, form.draft.goal
    assert group_chat_id is not None
    assert goal is not None
    suggested = [Decimal(a) for a in form.suggested]
    written: list[Drive] = []

    async def write() -> None:
        written.append(
            await context.services.drives.create(link.id, group_chat_id, goal, suggested)
        )

    if await context.services.links.record(link.id, write):
        return written[0]
    return Drive(
        link_id=link.id,
        group_chat_id=group_chat_id,
        goal=goal,
        suggested=suggested,
        card_message_id=None,
        milestone=0,
        card_edited_at=0.0,
        created_at=time.time(),
    )


async def _provider_refused(
    update: Update, context: BotContext, form: Form, error: ValidationFailedError
) -> str:
    """A 422: each field's messages, then the first refused field's step."""
    step = next((FIELD_STEPS[name] for name in error.field_errors if name in FIELD_STEPS), SUMMARY)
    return await show(update, context, form, step, notice=provider_refusal_text(error, context.tr))


# --- navigation and everything unexpected ----------------------------------------------------


@form_step
async def back(update: Update, context: BotContext, form: Form) -> str | int:
    """**Back**: the previous step, its answer kept."""
    if len(form.steps) > 1:
        form.steps.pop()
    return await show(update, context, form, form.step, push=False)


@form_step
async def cancel_button(update: Update, context: BotContext, form: Form) -> int:
    """**Cancel**: drops the form; ends."""
    context.user_data.pop("form", None)  # type: ignore[union-attr]
    query = update.callback_query
    if query is not None:
        await query.edit_message_text(context.tr("form-cancelled"))
    return END


async def cancel_command(update: Update, context: BotContext) -> int:
    """``/cancel``: drops the form; ends."""
    context.user_data.pop("form", None)  # type: ignore[union-attr]
    if update.effective_message is not None:
        await update.effective_message.reply_text(context.tr("form-cancelled"))
    return END


@form_step
async def unexpected(update: Update, context: BotContext, form: Form) -> str | int:
    """A sticker, photo, stray text or another flow's command: a one-line hint, same step."""
    tr = context.tr
    message = update.effective_message
    if message is not None and message.text and message.text.startswith("/"):
        hint = tr("form-busy")
    elif form.step in TEXT_STEPS:
        hint = tr("form-need-text")
    else:
        hint = tr("form-need-button")
    return await show(update, context, form, form.step, push=False, notice=hint)


async def closed_form_button(update: Update, context: BotContext) -> None:
    """A form button pressed when no form is open: "this form is closed"."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.tr("form-closed"), show_alert=True)


# --- quick create --------------------------------------------------------------------------


async def quick_create(update: Update, context: BotContext, arguments: str) -> None:
    """``/new 50000 Invoice #123``: one message, one link, its QR card."""
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None:
        return
    tr = context.tr
    users = context.services.users
    currency = users.currency_of(await users.seen(user.id))
    try:
        draft = parse_quick(arguments, currency, tr.language)
        draft.validate_complete()
    except QuickUsageError:
        await message.reply_text(tr("quick-usage"))
        return
    except DraftError as error:
        form = Form.new(LinkDraft(currency=currency))
        await message.reply_text(f"{error_text(error, form, tr)}\n\n{tr('quick-usage')}")
        return
    api_key = await require_api_key(update, context)
    if api_key is None:
        return
    try:
        link = await context.services.links.create(
            draft,
            api_key=api_key,
            owner_user_id=user.id,
            chat_id=chat.id,
            group_chat_id=None if chat.type == ChatType.PRIVATE else chat.id,
        )
    except ValidationFailedError as error:
        await message.reply_text(provider_refusal_text(error, tr), parse_mode=ParseMode.HTML)
        return
    except AuthError:
        await message.reply_text(tr("form-key-refused"))
        return
    except DGSError as error:
        log.warning("quick create failed for user %s: %s", user.id, error)
        await message.reply_text(tr("quick-provider-down"))
        return
    # The link exists: its card (or the text card) goes out, and nothing says "try again".
    if await send_link_card(context, chat.id, link) is None and chat.id != user.id:
        await send_link_card(context, user.id, link)  # the group took neither: in private


# --- the table -----------------------------------------------------------------------------


def _on(
    action: str, callback: Callable[[Update, BotContext], Coroutine[Any, Any, Any]]
) -> CallbackQueryHandler[BotContext, Any]:
    return CallbackQueryHandler(callback, pattern=rf"^f:[0-9a-f]+:{action}:")


TYPED = filters.TEXT & ~filters.COMMAND


def create_conversation() -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE
    text: MessageHandler[BotContext, Any] = MessageHandler(private & TYPED, got_text_option)
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        KIND: [_on("kind", got_kind)],
        TITLE: [MessageHandler(TYPED, got_title), _on("keep", keep)],
        CURRENCY: [_on("cur", got_currency)],
        CURRENCY_OTHER: [MessageHandler(TYPED, got_currency_code)],
        AMOUNT: [MessageHandler(TYPED, got_amount), _on("keep", keep)],
        MIN: [MessageHandler(TYPED, got_min), _on("skip", skip), _on("keep", keep)],
        MAX: [MessageHandler(TYPED, got_max), _on("skip", skip), _on("keep", keep)],
        SUMMARY: [_on("create", create), _on("more", more_options)],
        OPTIONS: [_on("opt", pick_option), _on("col", toggle_collect)],
        METHODS: [_on("pt", toggle_method)],
        MAX_USES: [_on("mu", max_uses_button), MessageHandler(TYPED, got_max_uses)],
        EXPIRY: [_on("ex", expiry_button), MessageHandler(TYPED, got_expiry)],
        DESCRIPTION: [text, _on("clear", clear_option)],
        SLUG: [text, _on("slug", use_slug), _on("clear", clear_option)],
        REDIRECT: [text, _on("clear", clear_option)],
        LOGO: [text, _on("clear", clear_option)],
        METADATA: [text, _on("clear", clear_option)],
        FAILED: [_on("create", create)],
        GOAL: [MessageHandler(TYPED, got_goal), _on("keep", keep)],
        SUGGESTED: [MessageHandler(TYPED, got_suggested), _on("skip", skip)],
    }
    return conversation(
        entry_points=[
            CommandHandler(["new", "newlink"], admins_only(new)),
            CommandHandler("drive", admins_only(drive_command)),
            CommandHandler(
                "start", group_form, filters.ChatType.PRIVATE & filters.Regex(GROUP_FORM_START)
            ),
            CallbackQueryHandler(new_button, pattern=f"^{start.NEW_LINK}$"),
            CallbackQueryHandler(duplicate, pattern=f"^{callbacks.DUPLICATE}"),
        ],
        states=states,
        fallbacks=[
            _on("back", back),
            _on("cancel", cancel_button),
            CommandHandler("cancel", cancel_command),
            MessageHandler(filters.ALL, unexpected),
            CallbackQueryHandler(unexpected, pattern=r"^f:"),
        ],
        name="create_form",
        persistent=True,
        allow_reentry=True,
        conversation_timeout=IDLE_LIMIT_SECONDS,
    )


def closed_form_handler() -> CallbackQueryHandler[BotContext, None]:
    """Registered after the conversation: form buttons nobody is waiting for."""
    return CallbackQueryHandler(closed_form_button, pattern=r"^f:")
