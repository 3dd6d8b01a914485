"""bot.dates: Kigali time in each language's words, Kinyarwanda included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.dates import format_relative, format_when
from bot.dgs.models import KIGALI

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=KIGALI)


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("rw", "1 Ukuboza 2026, 18:30"),
        ("fr", "1 déc. 2026, 18:30"),
        ("sw", "1 Des 2026, 18:30"),
        ("en", "1 Dec 2026, 18:30"),
    ],
)
def test_when_is_in_kigali_time_and_the_languages_words(language: str, shown: str) -> None:
    # 16:30 UTC is 18:30 in Kigali.
    assert format_when(datetime(2026, 12, 1, 16, 30, tzinfo=UTC), language) == shown


@pytest.mark.parametrize("language", ["en", "fr", "rw", "sw"])
def test_no_date_reads_as_numbers_or_a_12_hour_clock(language: str) -> None:
    """3 December 19:38: the day first, the month as a word, the 24-hour clock (issue 14)."""
    shown = format_when(datetime(2026, 12, 3, 17, 38, tzinfo=UTC), language)
    assert shown.startswith("3 ") and shown.endswith("2026, 19:38"), shown
    assert "12" not in shown.split(",")[0] and "/" not in shown, shown
    assert not any(mark in shown for mark in ("AM", "PM", "\u202f")), shown


@pytest.mark.parametrize(
    ("delta", "by_language"),
    [
        (
            timedelta(days=2),
            {"rw": "mu minsi 2", "en": "in 2 days", "fr": "dans 2 jours", "sw": "baada ya siku 2"},
        ),
        (
            -timedelta(hours=3),
            {"rw": "hashize amasaha 3", "en": "3 hours ago", "fr": "il y a 3 heures"},
        ),
        (timedelta(days=7), {"rw": "mu minsi 7", "en": "in 7 days"}),  # under 1.1 weeks
        (timedelta(days=8, hours=10), {"rw": "mu cyumweru 1", "en": "in 1 week"}),
        (timedelta(days=14), {"rw": "mu byumweru 2", "en": "in 2 weeks"}),
        (-timedelta(seconds=70), {"rw": "hashize umunota 1", "en": "1 minute ago"}),
        (timedelta(minutes=45), {"rw": "mu minota 45"}),
        (timedelta(hours=1), {"rw": "mu minota 60", "en": "in 60 minutes"}),
        (timedelta(days=500), {"rw": "mu mwaka 1"}),
        (timedelta(days=800), {"rw": "mu myaka 2"}),
        (-timedelta(days=65), {"rw": "hashize amezi 2"}),
        (timedelta(seconds=5), {"rw": "mu masegonda 5", "en": "in 5 seconds"}),
    ],
)
def test_relative_time_in_words(delta: timedelta, by_language: dict[str, str]) -> None:
    for language, shown in by_language.items():
        assert format_relative(NOW + delta, NOW, language) == shown, language


def test_kinyarwanda_never_shows_the_bare_cldr_fallback() -> None:
    for hours in (0.5, 2, 30, 200, 2000, 20000):
        for sign in (1, -1):
            text = format_relative(NOW + sign * timedelta(hours=hours), NOW, "rw")
            assert text.startswith(("mu ", "hashize ")), text
            assert not text.startswith(("+", "-")), text
