"""The web chat's texts (catalogue keys) and the choice of its language."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bot.config import LANGUAGES
from bot.i18n import Catalogues, match_language

# Every text the page shows, sent to it in its language; placeholders are filled by the page.
PAGE_KEYS: tuple[str, ...] = (
    "demo-page-title",
    "demo-banner",
    "demo-phone-of",
    "demo-language",
    "demo-chat-bot-subtitle",
    "demo-group-members",
    "demo-role-owner",
    "demo-role-member",
    "demo-input-placeholder",
    "demo-send",
    "demo-menu",
    "demo-menu-empty",
    "demo-edited",
    "demo-photo",
    "demo-download",
    "demo-reply-to",
    "demo-cancel",
    "demo-ok",
    "demo-pinned",
    "demo-empty-private",
    "demo-empty-group",
    "demo-service-added",
    "demo-service-left",
    "demo-service-migrated",
    "demo-service-pinned",
    "demo-service-other",
    "demo-unsupported",
    "demo-note-inline",
    "demo-note-telegram",
    "demo-note-unsupported",
    "demo-copied",
    "demo-error-send",
    "demo-error-button",
    "demo-error-not-member",
    "demo-offline",
    "demo-via",
)


def page_texts(catalogues: Catalogues, language: str) -> dict[str, str]:
    """The page's texts in ``language`` as templates: the page fills the ``{placeholders}``."""
    translations = catalogues.by_language.get(language) or catalogues.by_language["en"]
    return {key: translations.gettext(key) for key in PAGE_KEYS}


def pick_language(asked: str | None, accept_language: str | None, default: str) -> str:
    """The page's language: the one asked for, else the browser's preference, else ``default``."""
    chosen = match_language(asked)
    if chosen:
        return chosen
    for code in _by_preference(accept_language or ""):
        chosen = match_language(code)
        if chosen:
            return chosen
    return default if default in LANGUAGES else "en"


def _by_preference(header: str) -> list[str]:
    """Accept-Language codes, most wanted first (``fr-FR,fr;q=0.9,en;q=0.8``)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        code, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return [code for _, _, code in sorted(ranked)]


def terminal_language(default: str, environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line's own lines: the locale's (LANGUAGE, LC_ALL, LANG)."""
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for code in env.get(name, "").split(":"):
            chosen = match_language(code.split(".")[0])
            if chosen:
                return chosen
    return default if default in LANGUAGES else "en"
