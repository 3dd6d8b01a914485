"""The create form's steps: each stores an answer (or refuses it, same step again) and asks
the next; **Back**, **Cancel** and anything unexpected."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from telegram import Update

from bot import money
from bot.cleaners import (
    DraftError,
    check_amounts,
    clean_amount,
    clean_currency,
    clean_slug,
    suggest_slug,
)
from bot.context import BotContext
from bot.dates import format_when
from bot.dgs.models import ALL_PAYMENT_TYPES, KIGALI, AmountType, PaymentType
from bot.fields import FIELDS, Typed
from handlers.common import amount_rule
from handlers.create.form import Form, button_arg, form_step, typed_text
from handlers.create.prompts import error_text, show
from handlers.create.states import (
    AMOUNT,
    COLLECT_FIELDS,
    CURRENCY,
    CURRENCY_OTHER,
    END,
    EXPIRY,
    GOAL,
    MAX,
    MAX_USES,
    METHODS,
    MIN,
    OPTION_STEPS,
    OPTIONS,
    SUGGESTED,
    SUGGESTED_SEPARATORS,
    SUMMARY,
    TEXT_STEPS,
    TITLE,
    TYPED_OPTIONS,
)


def _answer(update: Update, context: BotContext, form: Form, name: str) -> Any:
    """The typed text read as the field's value (``bot.fields``); ``DraftError`` if refused."""
    parse = FIELDS[name].parse
    assert parse is not None
    typed = Typed(form.draft.currency or "", context.tr.language, datetime.now(KIGALI))
    return parse(typed_text(update), typed)


# --- the main path -------------------------------------------------------------------------


@form_step
async def got_kind(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores fixed/flexible (clearing amounts of the other kind); asks TITLE."""
    kind = AmountType(button_arg(update))
    if form.draft.kind != kind:
        form.draft.amount = form.draft.min_amount = form.draft.max_amount = None
    form.draft.kind = kind
    return await show(update, context, form, TITLE)


@form_step
async def got_title(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores the title (1–100 characters); asks CURRENCY."""
    try:
        form.draft.title = _answer(update, context, form, "title")
    except DraftError as error:
        return await show(update, context, form, TITLE, notice=error_text(error, form, context.tr))
    return await _after_title(update, context, form)


async def _after_title(update: Update, context: BotContext, form: Form) -> str:
    """CURRENCY, unless this form has none yet and the vendor's last one is remembered: then
    that one, and on to the amount (the summary shows it, with a Change button). A vendor who
    came back to the title past the currency sees the currency step again."""
    user = update.effective_user
    if not form.draft.currency and user is not None:
        remembered = (await context.services.users.seen(user.id)).default_currency
        if remembered:
            form.draft.currency = remembered
            return await show(update, context, form, _next_after(CURRENCY, form))
    return await show(update, context, form, CURRENCY)


@form_step
async def keep(update: Update, context: BotContext, form: Form) -> str | int:
    """**Keep** on a text step: the answer given before stands; asks the next step."""
    if form.step == TITLE:
        return await _after_title(update, context, form)
    return await show(update, context, form, _next_after(form.step, form))


@form_step
async def change_currency(update: Update, context: BotContext, form: Form) -> str | int:
    """**Change** beside the currency on the summary: asks CURRENCY."""
    return await show(update, context, form, CURRENCY)


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
    code = button_arg(update)
    if code == "other":
        return await show(update, context, form, CURRENCY_OTHER)
    return await _set_currency(update, context, form, code)


@form_step
async def got_currency_code(update: Update, context: BotContext, form: Form) -> str | int:
    """Stores a typed ISO 4217 code; asks AMOUNT or MIN."""
    return await _set_currency(update, context, form, typed_text(update))


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
    user = update.effective_user
    if user is not None:  # the next form starts with it (point 10 of issue 14)
        await context.services.users.set_default_currency(user.id, currency)
    return await show(update, context, form, _next_after(CURRENCY, form))


async def _amount_step(
    update: Update, context: BotContext, form: Form, field_name: str, next_step: str
) -> str:
    tr = context.tr
    try:
        value = clean_amount(
            typed_text(update), form.draft.currency or "", tr.language, field=field_name
        )
        setattr(form.draft, field_name, value)
        if field_name == "max_amount":
            check_amounts(form.draft)
    except DraftError as error:
        if field_name == "max_amount":
            form.draft.max_amount = None
        return await show(update, context, form, form.step, notice=error_text(error, form, tr))
    notice = None
    if money.reads_two_ways(typed_text(update), form.draft.currency or ""):
        # "1.500" is 1.5 in one language and 1 500 in another: say how it was read.
        notice = amount_rule(tr)
    return await show(update, context, form, next_step, notice=notice)


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
    parts = [part for part in SUGGESTED_SEPARATORS.split(typed_text(update)) if part.strip()]
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


@form_step
async def pick_option(update: Update, context: BotContext, form: Form) -> str | int:
    """An option's button: asks that option's step."""
    return await show(update, context, form, OPTION_STEPS[button_arg(update)])


@form_step
async def toggle_collect(update: Update, context: BotContext, form: Form) -> str | int:
    """Ask phone / name / address toggles: flips it; shows OPTIONS again."""
    attr = COLLECT_FIELDS[button_arg(update)]
    setattr(form.draft, attr, not getattr(form.draft, attr))
    return await show(update, context, form, OPTIONS, push=False)


@form_step
async def toggle_method(update: Update, context: BotContext, form: Form) -> str | int:
    """A method's toggle (at least one stays on); shows METHODS again."""
    kind = PaymentType(button_arg(update))
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
    arg = button_arg(update)
    form.draft.max_uses = None if arg == "none" else int(arg)
    return await _back_to_options(update, context, form)


@form_step
async def got_max_uses(update: Update, context: BotContext, form: Form) -> str | int:
    """A typed number of uses; shows OPTIONS."""
    try:
        form.draft.max_uses = _answer(update, context, form, "max_uses")
    except DraftError as error:
        return await show(
            update, context, form, MAX_USES, notice=error_text(error, form, context.tr)
        )
    return await _back_to_options(update, context, form)


@form_step
async def expiry_button(update: Update, context: BotContext, form: Form) -> str | int:
    """In 1 / 7 / 30 days or No expiry: stores the expiry; shows OPTIONS with it in Kigali time."""
    arg = button_arg(update)
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
        form.draft.expires_at = _answer(update, context, form, "expires_at")
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


@form_step
async def got_text_option(update: Update, context: BotContext, form: Form) -> str | int:
    """Description, slug, redirect URL, logo URL or metadata, checked; shows OPTIONS."""
    spec = TYPED_OPTIONS[form.step]
    try:
        setattr(form.draft, spec.attr, _answer(update, context, form, spec.name))
    except DraftError as error:
        return await show(
            update, context, form, form.step, notice=error_text(error, form, context.tr)
        )
    return await _back_to_options(update, context, form)


@form_step
async def use_slug(update: Update, context: BotContext, form: Form) -> str | int:
    """The suggested slug's button: stores it; shows OPTIONS."""
    # The suggestion is the title's: a long one would not fit the button's 64 bytes.
    form.draft.slug = clean_slug(button_arg(update) or suggest_slug(form.draft.title or ""))
    return await _back_to_options(update, context, form)


@form_step
async def clear_option(update: Update, context: BotContext, form: Form) -> str | int:
    """**Remove** on an optional step: back to the provider's default; shows OPTIONS."""
    spec = TYPED_OPTIONS.get(form.step)
    if spec is not None:
        setattr(form.draft, spec.attr, None)
    return await _back_to_options(update, context, form)


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
