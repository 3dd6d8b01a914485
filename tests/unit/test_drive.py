"""The drive's arithmetic: percent, bar, milestones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.drive import milestones_reached, parse_suggested, percent, progress_bar

D = Decimal


@pytest.mark.parametrize(
    ("raised", "goal", "bar"),
    [
        (D(0), D(1000), "░░░░░░░░░░ 0%"),
        (D(520), D(1000), "▓▓▓▓▓░░░░░ 52%"),
        (D("999.99"), D(1000), "▓▓▓▓▓▓▓▓▓░ 99%"),
        (D(1000), D(1000), "▓▓▓▓▓▓▓▓▓▓ 100%"),
        (D(2500), D(1000), "▓▓▓▓▓▓▓▓▓▓ 250%"),
    ],
)
def test_progress_bar(raised: Decimal, goal: Decimal, bar: str) -> None:
    assert progress_bar(raised, goal) == bar


def test_percent_never_rounds_up_to_the_goal() -> None:
    assert percent(D("74.999"), D(100)) == 74
    assert percent(D(5), D(0)) == 0


def test_each_milestone_is_reached_once() -> None:
    assert milestones_reached(D(260), D(1000), announced=0) == [25]
    assert milestones_reached(D(800), D(1000), announced=25) == [50, 75]
    assert milestones_reached(D(800), D(1000), announced=75) == []
    assert milestones_reached(D(1000), D(1000), announced=75) == [100]


def test_suggested_amounts_round_trip() -> None:
    assert parse_suggested("5000,10000") == [D(5000), D(10000)]
    assert parse_suggested(None) == []


@pytest.mark.parametrize(
    ("typed", "parts"),
    [
        ("5 000, 10 000", ["5 000", "10 000"]),
        ("2,50, 5,00", ["2,50", "5,00"]),  # French decimals survive
        ("5,000, 10,000", ["5,000", "10,000"]),  # English grouping survives
        ("5000;10000\n20000", ["5000", "10000", "20000"]),
    ],
)
def test_suggested_amounts_are_split_without_breaking_numbers(
    typed: str, parts: list[str]
) -> None:
    from handlers.create import SUGGESTED_SEPARATORS

    assert [p for p in SUGGESTED_SEPARATORS.split(typed) if p.strip()] == parts
