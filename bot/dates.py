"""Dates and times as people in Rwanda read them: Kigali time, in their language."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime, format_timedelta

from bot.dgs.models import KIGALI
from bot.money import babel_locale


def format_when(moment: datetime, language: str) -> str:
    """``31 Dec 2026, 18:00`` in the language's own pattern, in Kigali time."""
    text: str = format_datetime(
        moment.astimezone(KIGALI), format="medium", locale=babel_locale(language)
    )
    return text


def format_relative(moment: datetime, now: datetime, language: str) -> str:
    """``in 2 days`` / ``3 hours ago``, rounded the way people say it."""
    text: str = format_timedelta(
        moment - now, add_direction=True, threshold=1.1, locale=babel_locale(language)
    )
    return text
