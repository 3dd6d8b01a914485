"""The web chat's texts (catalogue keys) and the language of the command line's lines.

The page's own language is read as the payer page's is (``bot.devtools.accept_language``).
"""

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


def terminal_language(default: str, environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line's own lines: the locale's (LANGUAGE, LC_ALL, LANG)."""
    env = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for code in env.get(name, "").split(":"):
            chosen = match_language(code.split(".")[0])
            if chosen:
                return chosen
    return default if default in LANGUAGES else "en"
