"""What each step of the create form says and which buttons it shows; showing a step."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot import money
from bot.button_labels import filled, toggle
from bot.cards import range_words
from bot.cleaners import TITLE_MAX, DraftError, suggest_slug
from bot.context import BotContext
from bot.dgs.models import ALL_PAYMENT_TYPES, AmountType
from bot.fields import FIELDS, summary_groups
from bot.i18n import Markup, Translator, escape
from bot.links import LinkDraft
from handlers.common import draft_error_text, typed_separators
from handlers.create.form import Form, button
from handlers.create.states import (
    AMOUNT,
    COMMON_CURRENCIES,
    CURRENCY,
    CURRENCY_OTHER,
    EXPIRY,
    EXPIRY_DAYS,
    FAILED,
    GOAL,
    KIND,
    MAX,
    MAX_USES,
    MAX_USES_CHOICES,
    METHODS,
    MIN,
    OPTIONS,
    SLUG,
    SUGGESTED,
    SUMMARY,
    TITLE,
    TYPED_OPTIONS,
)

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
    return [[button(form, filled(tr, "button-keep", "value", shown), "keep")]]


def prompt_kind(form: Form, tr: Translator) -> Prompt:
    # One a row: both names are long in Kinyarwanda and French.
    rows = [
        [button(form, tr("form-kind-fixed"), "kind", AmountType.FIXED)],
        [button(form, tr("form-kind-flexible"), "kind", AmountType.FLEXIBLE)],
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
    # The separator rule is not repeated on every question: it comes with a refusal or after
    # an amount that reads two ways (``handlers/create/steps.py``).
    text = tr(key, currency=currency, example=_example(currency, tr))
    rows = _keep(form, tr, _amount_text(value, currency, tr) if value is not None else None)
    if key in ("form-min", "form-max"):
        rows.append([button(form, tr("button-skip"), "skip")])
    rows.append(_nav(form, tr))
    return text, InlineKeyboardMarkup(rows)


def summary_lines(draft: LinkDraft, tr: Translator) -> list[str]:
    """The draft as the summary shows it, one escaped line per answer (``bot.fields``'s
    order): the title, amount, methods and payer's details always, the others when set."""
    currency = draft.currency or ""
    lines = []
    for key, specs in summary_groups():
        if key == "summary-amount":
            lines.append(tr(key, value=Markup(escape(_draft_amount(draft, tr)))))
        elif specs[0].toggle:
            asked = [tr(spec.label or spec.name) for spec in specs if getattr(draft, spec.attr)]
            lines.append(tr(key, value=", ".join(asked) if asked else tr("value-nothing")))
        else:
            spec = specs[0]
            value = getattr(draft, spec.attr)
            if spec.required:
                lines.append(tr(key, value=value or ""))
            elif spec.is_set(value):  # a drive's goal in the metadata is no "reference"
                lines.append(tr(key, value=spec.words(value, currency, tr, brief=True)[:200]))
    return lines


def _draft_amount(draft: LinkDraft, tr: Translator) -> str:
    currency = draft.currency or ""
    if draft.kind == AmountType.FIXED:
        return _amount_text(draft.amount, currency, tr)
    return range_words(draft.min_amount, draft.max_amount, currency, tr)


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
    currency = form.draft.currency or ""
    rows = [
        [button(form, tr("button-create"), "create")],
        [button(form, tr("button-more-options"), "more")],
        # The currency may have been taken from the vendor's last form: changed here.
        [button(form, tr.plain("button-change-currency", currency=currency), "chcur")],
        _nav(form, tr),
    ]
    return text, InlineKeyboardMarkup(rows)


def prompt_options(form: Form, tr: Translator) -> Prompt:
    """More options: one button per optional field with its value (``bot.fields``'s order),
    cut to a phone's width; the payer's details as switches showing their state."""
    draft, currency = form.draft, form.draft.currency or ""
    rows: list[list[InlineKeyboardButton]] = []
    for spec in FIELDS.values():
        if spec.option is None or spec.option_label is None:
            continue
        value = getattr(draft, spec.attr)
        if spec.toggle:
            label = toggle(tr, spec.option_label, bool(value))
            rows.append([button(form, label, "col", spec.option)])
            continue
        if not value:
            shown = tr(spec.option_empty or spec.empty)
        else:
            shown = spec.words(value, currency, tr, brief=True)
        label = filled(tr, spec.option_label, "value", shown)
        rows.append([button(form, label, "opt", spec.option)])
    rows.append([button(form, tr("button-summary"), "back")])
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
    # One a row, as in the editor: "virement bancaire" and its ticks fill half a phone.
    rows = [[toggle] for toggle in toggles]
    rows.append([button(form, tr("button-done"), "back")])
    return tr("form-methods"), InlineKeyboardMarkup(rows)


def prompt_max_uses(form: Form, tr: Translator) -> Prompt:
    choices = [button(form, str(n), "mu", str(n)) for n in MAX_USES_CHOICES]
    unlimited = [button(form, tr("button-unlimited"), "mu", "none")]
    return tr("form-max-uses"), InlineKeyboardMarkup([choices, unlimited, _nav(form, tr)])


def prompt_expiry(form: Form, tr: Translator) -> Prompt:
    choices = [button(form, tr.plural("button-in-days", n), "ex", str(n)) for n in EXPIRY_DAYS]
    choices.append(button(form, tr("button-no-expiry"), "ex", "none"))
    rows = [choices[i : i + 2] for i in range(0, len(choices), 2)]  # two a row: they fit
    rows.append(_nav(form, tr))
    return tr("form-expiry"), InlineKeyboardMarkup(rows)


def _text_option(form: Form, tr: Translator, key: str, **params: Any) -> Prompt:
    rows = [[button(form, tr("button-remove"), "clear")], _nav(form, tr)]
    return tr(key, **params), InlineKeyboardMarkup(rows)


def prompt_slug(form: Form, tr: Translator) -> Prompt:
    suggestion = suggest_slug(form.draft.title or "") if form.draft.title else None
    rows = []
    if suggestion:
        rows.append([button(form, filled(tr, "button-use-slug", "slug", suggestion), "slug")])
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
        SLUG: lambda: prompt_slug(form, tr),
        FAILED: lambda: prompt_failed(form, tr),
        GOAL: lambda: prompt_goal(form, tr),
        SUGGESTED: lambda: prompt_suggested(form, tr),
    }
    if step in prompts:
        return prompts[step]()
    spec = TYPED_OPTIONS[step]  # the vendor's own words: the same question for each
    assert spec.prompt is not None
    return _text_option(form, tr, spec.prompt, **spec.limits)


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
        _remember_prompt(form, query.message.message_id, context)
        return step
    chat = update.effective_chat
    assert chat is not None
    sent = await context.bot.send_message(
        chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    await strip_prompt(context, form, chat.id)  # after: the question is never missing
    _remember_prompt(form, sent.message_id, context)
    return step


def _remember_prompt(form: Form, message_id: int, context: BotContext) -> None:
    """Notes the prompt's message in the saved form, touching nothing else in it."""
    form.prompt_id = message_id
    saved = (context.user_data or {}).get("form")
    if isinstance(saved, dict) and saved.get("id") == form.id:
        saved["prompt_id"] = message_id


async def strip_prompt(context: BotContext, form: Form, chat_id: int) -> None:
    """Takes the buttons off the form's last question, so only the newest one is live: an
    old Back or Cancel far up the chat would act on a step the vendor has left."""
    if form.prompt_id is None:
        return
    message_id, form.prompt_id = form.prompt_id, None
    # Deleted, too old to edit, or already bare: nothing live is left on it either way.
    with contextlib.suppress(BadRequest):
        await context.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)


def error_text(error: DraftError, form: Form, tr: Translator) -> str:
    """A refused answer in words, its amounts formatted in the form's currency."""
    return draft_error_text(error, form.draft.currency or "", tr)
