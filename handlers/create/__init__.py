"""``/new``: the step-by-step form, quick create, and Duplicate — one conversation.

The state diagram is ``docs/create-form.mmd``. The main path::

    KIND ─► TITLE ─► CURRENCY ─(Other)─► CURRENCY_OTHER ─┐
                         └──────────────────────────────┴─► AMOUNT (fixed) ─────────┐
                                                          └► MIN ─► MAX (flexible) ─┴─► SUMMARY
    SUMMARY ─(More options)─► OPTIONS ─► METHODS | MAX_USES | EXPIRY | DESCRIPTION | SLUG
                                         | REDIRECT | LOGO | METADATA ─► OPTIONS
    SUMMARY ─(Create link)─► END (QR card) | the refused field's step | FAILED ─(Try again)─► …
    SUMMARY ─(💱 Change)─► CURRENCY

The vendor's last currency is remembered (their user row): TITLE then skips CURRENCY. /links,
/help and /language are answered during the form and leave it at its step.

The answers live in ``user_data["form"]`` (persisted): a form id, the ``LinkDraft`` as JSON,
the stack of steps (for **Back**) and the last activity time. Buttons carry the form id, so a
button of an old or finished form answers "this form is closed" instead of acting.

The package: ``states`` (the steps, and which field each asks: ``bot.fields``), ``form`` (the
persisted form and the gate every step goes through), ``prompts`` (what each step says),
``entry`` (how a form starts), ``steps`` (the answers), ``submit`` (making the link, through
``LinkService.create_from_form``), ``quick`` (``/new 5000 Rent``); here, the table.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import callbacks
from bot.context import BotContext
from handlers.common import conversation
from handlers.create.entry import drive_command, duplicate, group_form, new, new_button
from handlers.create.quick import quick_create
from handlers.create.states import (
    AMOUNT,
    CURRENCY,
    CURRENCY_OTHER,
    EXPIRY,
    FAILED,
    GOAL,
    GROUP_FORM_START,
    IDLE_LIMIT_SECONDS,
    KIND,
    MAX,
    MAX_USES,
    METHODS,
    MIN,
    OPTIONS,
    SLUG,
    SUGGESTED,
    SUGGESTED_SEPARATORS,
    SUMMARY,
    TITLE,
    TYPED_OPTIONS,
)
from handlers.create.steps import (
    back,
    cancel_button,
    cancel_command,
    change_currency,
    clear_option,
    closed_form_button,
    expiry_button,
    got_amount,
    got_currency,
    got_currency_code,
    got_expiry,
    got_goal,
    got_kind,
    got_max,
    got_max_uses,
    got_min,
    got_suggested,
    got_text_option,
    got_title,
    keep,
    max_uses_button,
    more_options,
    pick_option,
    skip,
    toggle_collect,
    toggle_method,
    unexpected,
    use_slug,
)
from handlers.create.submit import create
from handlers.gates import admins_only
from handlers.start import help_command

__all__ = [
    "SUGGESTED_SEPARATORS",
    "closed_form_handler",
    "create_conversation",
    "quick_create",
]


def _on(
    action: str, callback: Callable[[Update, BotContext], Coroutine[Any, Any, Any]]
) -> CallbackQueryHandler[BotContext, Any]:
    return CallbackQueryHandler(callback, pattern=rf"^{callbacks.FORM}[0-9a-f]+:{action}:")


TYPED = filters.TEXT & ~filters.COMMAND


def _aside(
    callback: Callable[[Update, BotContext], Coroutine[Any, Any, Any]],
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """A command answered during the form; returning None keeps the form at its step."""

    async def run(update: Update, context: BotContext) -> None:
        await callback(update, context)

    return run


def _asides() -> list[BaseHandler[Update, BotContext, Any]]:
    """/links, /help and /language answer and keep the form (its next answer still counts)."""
    from handlers import language, links

    return [
        CommandHandler("links", _aside(links.links_command)),
        CommandHandler("help", _aside(help_command)),
        CommandHandler("language", _aside(admins_only(language.language))),
    ]


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
        SUMMARY: [
            _on("create", create),
            _on("more", more_options),
            _on("chcur", change_currency),
        ],
        OPTIONS: [_on("opt", pick_option), _on("col", toggle_collect)],
        METHODS: [_on("pt", toggle_method)],
        MAX_USES: [_on("mu", max_uses_button), MessageHandler(TYPED, got_max_uses)],
        EXPIRY: [_on("ex", expiry_button), MessageHandler(TYPED, got_expiry)],
        FAILED: [_on("create", create)],
        GOAL: [MessageHandler(TYPED, got_goal), _on("keep", keep)],
        SUGGESTED: [MessageHandler(TYPED, got_suggested), _on("skip", skip)],
    }
    # The vendor's own words under More options: typed (in private), or removed.
    for step in TYPED_OPTIONS:
        extra = [_on("slug", use_slug)] if step == SLUG else []
        states[step] = [text, *extra, _on("clear", clear_option)]
    return conversation(
        entry_points=[
            CommandHandler(["new", "newlink"], admins_only(new)),
            CommandHandler("drive", admins_only(drive_command)),
            CommandHandler(
                "start", group_form, filters.ChatType.PRIVATE & filters.Regex(GROUP_FORM_START)
            ),
            CallbackQueryHandler(new_button, pattern=f"^{callbacks.NEW_LINK}$"),
            CallbackQueryHandler(duplicate, pattern=f"^{callbacks.DUPLICATE}"),
        ],
        states=states,
        fallbacks=[
            _on("back", back),
            _on("cancel", cancel_button),
            CommandHandler("cancel", cancel_command),
            *_asides(),
            MessageHandler(filters.ALL, unexpected),
            CallbackQueryHandler(unexpected, pattern=f"^{callbacks.FORM}"),
        ],
        name="create_form",
        persistent=True,
        allow_reentry=True,
        conversation_timeout=IDLE_LIMIT_SECONDS,
    )


def closed_form_handler() -> CallbackQueryHandler[BotContext, None]:
    """Registered after the conversation: form buttons nobody is waiting for."""
    return CallbackQueryHandler(closed_form_button, pattern=f"^{callbacks.FORM}")
