"""Translations: gettext catalogues under ``locales/``, one ``Translator`` per update.

Messages are looked up by a symbolic key (the ``msgid``), e.g. ``tr("welcome", name=...)``;
the English catalogue holds the source text. Placeholders are named, ``{name}``, and every
``str`` value is HTML-escaped before it is put in, because the bot sends HTML: pass
``Markup(...)`` for a value that is already safe HTML. The ``.po`` files are compiled in memory
at start with Babel, so there is no build step and no ``.mo`` file to forget.

The locale is never global: the user-tracking gate picks it for each update and handlers read
it from their context.
"""

from __future__ import annotations

import gettext
import html
import io
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import LANGUAGES

log = logging.getLogger(__name__)

SOURCE_LANGUAGE = "en"
LANGUAGE_NAMES: Mapping[str, str] = {
    "rw": "Ikinyarwanda",
    "en": "English",
    "fr": "Français",
    "sw": "Kiswahili",
}


def locales_dir() -> Path:
    """``PAYLINKS_LOCALES_DIR``, else ``locales/`` beside the packages (a source checkout)."""
    configured = os.environ.get("PAYLINKS_LOCALES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "locales"


class Markup(str):
    """A string that is already safe HTML and must not be escaped again."""

    __slots__ = ()


def escape(value: str) -> str:
    return html.escape(value, quote=False)


def placeholders(text: str) -> set[str]:
    """Names of the ``{placeholders}`` in a message (for catalogue checks)."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def match_language(code: str | None) -> str | None:
    """One of our four languages for a Telegram ``language_code`` like ``fr-FR``, or None."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def _compile(po_path: Path, locale: str) -> gettext.GNUTranslations:
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain="bot")
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class _MissingKey(gettext.NullTranslations):
    """The last fallback: a missing message logs and shows its key instead of crashing."""

    def gettext(self, message: str) -> str:
        log.warning("message %r is missing from the catalogues", message)
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        log.warning("message %r is missing from the catalogues", msgid1)
        return msgid1


@dataclass(frozen=True)
class Catalogues:
    """All four compiled catalogues; each falls back to English, then to the key."""

    by_language: Mapping[str, gettext.GNUTranslations]

    @classmethod
    def load(
        cls, directory: Path | None = None, languages: Iterable[str] = LANGUAGES
    ) -> Catalogues:
        root = directory or locales_dir()
        compiled: dict[str, gettext.GNUTranslations] = {}
        for language in languages:
            po_path = root / language / "LC_MESSAGES" / "bot.po"
            if not po_path.exists():
                raise FileNotFoundError(f"no catalogue for {language!r} at {po_path}")
            compiled[language] = _compile(po_path, language)
        source = compiled[SOURCE_LANGUAGE]
        source.add_fallback(_MissingKey())
        for language, translations in compiled.items():
            if language != SOURCE_LANGUAGE:
                translations.add_fallback(source)
        return cls(compiled)

    def translator(self, language: str) -> Translator:
        return Translator(language if language in self.by_language else SOURCE_LANGUAGE, self)


class Translator:
    """Messages of one language: ``tr("key", **params)`` and ``tr.plural("key", n, ...)``."""

    def __init__(self, language: str, catalogues: Catalogues) -> None:
        self.language = language
        self._translations = catalogues.by_language[language]

    def __call__(self, key: str, /, **params: Any) -> str:
        return _fill(self._translations.gettext(key), params)

    def plural(self, key: str, count: int, /, **params: Any) -> str:
        """A message with plural forms; ``count`` is also available as ``{count}``."""
        return _fill(self._translations.ngettext(key, key, count), {"count": count, **params})

    def plain(self, key: str, /, **params: Any) -> str:
        """A message for plain text (a button label, an alert), its values put in as they
        are: escaping there would show ``Tom &amp; Jerry``."""
        return _fill(self._translations.gettext(key), params, html=False)

    @cached_property
    def babel_locale(self) -> str:
        return self.language

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"


def _fill(template: str, params: Mapping[str, Any], *, html: bool = True) -> str:
    safe = {
        name: value
        if not html or isinstance(value, Markup) or not isinstance(value, str)
        else escape(value)
        for name, value in params.items()
    }
    try:
        return template.format_map(safe)
    except (KeyError, IndexError, ValueError):
        log.exception("message template %r does not fit its parameters", template[:40])
        return template
