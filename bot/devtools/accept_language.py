"""The language a page speaks: the one asked for, else the browser's ``Accept-Language``.

One reading of the header for the sandbox's payer page and the demo's web chat.
"""

from __future__ import annotations

from bot.config import LANGUAGES
from bot.i18n import SOURCE_LANGUAGE, match_language


def accepted_languages(header: str) -> list[str]:
    """Our languages in an ``Accept-Language`` header, most wanted first (``q=0`` excluded).

    ``fr-FR,fr;q=0.9,en;q=0.8`` → ``["fr", "en"]``; parameter names are case-insensitive.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        code, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = match_language(code.strip())
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return [language for _, _, language in sorted(ranked)]


def pick_language(
    asked: str | None, accept_language: str | None, default: str = SOURCE_LANGUAGE
) -> str:
    """``asked`` when it names one of our languages, else the browser's preference, else
    ``default`` (English when that is not one of ours)."""
    chosen = match_language(asked)
    if chosen:
        return chosen
    preferred = accepted_languages(accept_language or "")
    if preferred:
        return preferred[0]
    return default if default in LANGUAGES else SOURCE_LANGUAGE
