"""Dates and times as people in Rwanda read them: Kigali time, in their language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from babel.dates import format_datetime, format_timedelta

from bot.dgs.models import KIGALI
from bot.money import babel_locale

# One day-month-name pattern for every language: "12/3/26" reads as 12 March in Rwanda, and
# Rwanda uses the 24-hour clock. CLDR's Kinyarwanda has no usable short month names ("Uku."),
# so it writes the month in full.
_DATETIME_PATTERN = "d MMM y, HH:mm"
_DATETIME_PATTERNS: Mapping[str, str] = {"rw": "d MMMM y, HH:mm"}
# CLDR's Kinyarwanda has no words for "in 2 days" either (Babel writes "+2 d"): here is what it
# lacks, written the way Rwandans write it; the other languages use CLDR as it is.
# unit → (future, one), (future, more), (past, one), (past, more)
_RELATIVE_WORDS: Mapping[str, Mapping[str, tuple[str, str, str, str]]] = {
    "rw": {
        "year": ("mu mwaka {0}", "mu myaka {0}", "hashize umwaka {0}", "hashize imyaka {0}"),
        "month": ("mu kwezi {0}", "mu mezi {0}", "hashize ukwezi {0}", "hashize amezi {0}"),
        "week": (
            "mu cyumweru {0}",
            "mu byumweru {0}",
            "hashize icyumweru {0}",
            "hashize ibyumweru {0}",
        ),
        "day": ("mu munsi {0}", "mu minsi {0}", "hashize umunsi {0}", "hashize iminsi {0}"),
        "hour": ("mu isaha {0}", "mu masaha {0}", "hashize isaha {0}", "hashize amasaha {0}"),
        "minute": ("mu munota {0}", "mu minota {0}", "hashize umunota {0}", "hashize iminota {0}"),
        "second": (
            "mu isegonda {0}",
            "mu masegonda {0}",
            "hashize isegonda {0}",
            "hashize amasegonda {0}",
        ),
    }
}
# Babel's units and its rounding threshold, so every language rounds the same way.
_UNITS = (
    ("year", 31536000),
    ("month", 2592000),
    ("week", 604800),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
    ("second", 1),
)
_THRESHOLD = 1.1


def format_when(moment: datetime, language: str) -> str:
    """``3 Dec 2026, 19:38`` (day, month name, year, 24-hour time) in Kigali time, every date
    the bot shows: cards, the editor, the list's payments, alerts."""
    local = moment.astimezone(KIGALI)
    pattern = _DATETIME_PATTERNS.get(language, _DATETIME_PATTERN)
    return str(format_datetime(local, format=pattern, locale=babel_locale(language)))


def format_relative(moment: datetime, now: datetime, language: str) -> str:
    """``in 2 days`` / ``3 hours ago``, rounded the way people say it."""
    words = _RELATIVE_WORDS.get(language)
    if words is not None:
        return _relative(words, (moment - now).total_seconds())
    text: str = format_timedelta(
        moment - now, add_direction=True, threshold=_THRESHOLD, locale=babel_locale(language)
    )
    return text


def _relative(words: Mapping[str, tuple[str, str, str, str]], seconds: float) -> str:
    for unit, unit_seconds in _UNITS:
        value = abs(seconds) / unit_seconds
        if value >= _THRESHOLD or unit == "second":
            count = round(max(1.0, value) if value > 0 else value)
            future_one, future_more, past_one, past_more = words[unit]
            if seconds >= 0:
                pattern = future_one if count == 1 else future_more
            else:
                pattern = past_one if count == 1 else past_more
            return pattern.replace("{0}", str(count))
    return ""  # pragma: no cover - the last unit always matches
