"""The typed context every handler receives: ``context.services`` and ``context.tr``.

Shared services reach handlers through ``ContextTypes`` rather than ``bot_data["x"]`` lookups;
the translator is chosen per update by the user-tracking gate (``handlers/gates.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.i18n import Translator

if TYPE_CHECKING:
    from bot.services import Services


class BotData:
    """``bot_data``: live services, set by ``bot/app.py:run_bot`` before the Application
    initializes (see docs/ARCHITECTURE.md for why not ``post_init``); never persisted."""

    def __init__(self) -> None:
        self.services: Services | None = None


UserData = dict[str, Any]
ChatData = dict[str, Any]


class BotContext(CallbackContext[ExtBot[None], UserData, ChatData, BotData]):
    """A callback context that knows the services and the language of this update."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        self.language: str | None = None

    @property
    def services(self) -> Services:
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("services are opened before the Application; none are open")
        return services

    @property
    def tr(self) -> Translator:
        """Messages in this update's language (the default language until the gate ran)."""
        services = self.services
        language = self.language or services.settings.bot_default_language
        return services.catalogues.translator(language)


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)
