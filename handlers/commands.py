"""The command menu Telegram shows, in each of our languages (setMyCommands)."""

from __future__ import annotations

import logging

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.config import LANGUAGES
from bot.i18n import Catalogues

log = logging.getLogger(__name__)

# Command → catalogue key of its description, in menu order.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", "cmd-new"),
    ("links", "cmd-links"),
    ("connect", "cmd-connect"),
    ("notifications", "cmd-notifications"),
    ("export", "cmd-export"),  # the menu lists what /help lists
    ("items", "cmd-items"),  # issue 17: saved items
    ("till", "cmd-till"),  # issue 17: the till
    ("staff", "cmd-staff"),
    ("language", "cmd-language"),
    ("help", "cmd-help"),
    ("cancel", "cmd-cancel"),
)


async def publish_commands(bot: ExtBot[None], catalogues: Catalogues, default: str) -> None:
    """One menu per language, and the default language's menu for everyone else."""
    try:
        for language in (*LANGUAGES, None):
            tr = catalogues.translator(language or default)
            commands = [BotCommand(name, tr(key)) for name, key in COMMANDS]
            await bot.set_my_commands(commands, language_code=language)
    except TelegramError as exc:
        # The menu is a convenience; the bot works without it.
        log.warning("could not publish the command menu: %s", exc)
