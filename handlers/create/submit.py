"""**Create link** / **Try again**: the draft checked, the link made (once, by the service),
its card handed over where it belongs; a refusal goes back to the refused field's step."""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.cleaners import DraftError
from bot.context import BotContext
from bot.dgs.errors import AuthError, DGSError, SlugTakenError, ValidationFailedError
from bot.dgs.models import Link, LinkDetails
from bot.i18n import Markup
from handlers.cards import send_link_card
from handlers.common import provider_refusal_text, require_api_key
from handlers.create.form import Form, form_step
from handlers.create.prompts import error_text, form_summary_lines, show
from handlers.create.states import END, FAILED, FIELD_STEPS, SLUG, SUMMARY
from handlers.drive import post_drive_card
from handlers.gates import is_chat_admin
from handlers.groups import names_keyboard, posted_text

log = logging.getLogger(__name__)


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

    async def save() -> None:
        form.save(context.user_data)  # type: ignore[arg-type]
        await context.application.update_persistence()

    try:
        link = await context.services.links.create_from_form(
            draft,
            save=save,
            api_key=api_key,
            owner_user_id=user.id,
            chat_id=chat.id,
            group_chat_id=form.group_chat_id,
            drive=form.drive,
            suggested=form.suggested,
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
            if form.drive:  # a drive's card and milestones never name anyone: no switch
                await context.bot.send_message(chat.id, tr("group-posted"))
            else:
                # Payment lines of a plain link name the payer: the admin may hide them.
                group = await context.services.groups.get(form.group_chat_id)
                anonymous = bool(group and group.anonymous_totals)
                await context.bot.send_message(
                    chat.id,
                    posted_text(anonymous, tr),
                    reply_markup=names_keyboard(form.group_chat_id, anonymous, tr),
                )
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
        drive = await services.links.record_drive(
            services.drives,
            link.id,
            form.group_chat_id,
            form.draft.goal,
            [Decimal(amount) for amount in form.suggested],
        )
        return await post_drive_card(context, LinkDetails(link=link), drive, tr) is not None
    return await send_link_card(context, form.group_chat_id, link, tr=tr) is not None


async def _provider_refused(
    update: Update, context: BotContext, form: Form, error: ValidationFailedError
) -> str:
    """A 422: each field's messages, then the first refused field's step."""
    step = next((FIELD_STEPS[name] for name in error.field_errors if name in FIELD_STEPS), SUMMARY)
    return await show(update, context, form, step, notice=provider_refusal_text(error, context.tr))
