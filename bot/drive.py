"""Donation drives: the goal, the progress bar, milestones. Pure: no Telegram, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

MILESTONES: tuple[int, ...] = (25, 50, 75, 100)
BAR_CELLS = 10
FULL, EMPTY = "▓", "░"
GOAL_KEY = "goal"
SUGGESTED_KEY = "suggested"


def percent(raised: Decimal, goal: Decimal) -> int:
    """Whole percent of the goal raised, rounded down (99.9 % is not "goal reached")."""
    if goal <= 0:
        return 0
    return int((raised * 100 / goal).to_integral_value(rounding=ROUND_FLOOR))


def progress_bar(raised: Decimal, goal: Decimal) -> str:
    """``▓▓▓▓▓░░░░░ 52%``; the bar stops full at the goal, the percentage does not."""
    share = percent(raised, goal)
    cells = min(BAR_CELLS, share * BAR_CELLS // 100)
    return f"{FULL * cells}{EMPTY * (BAR_CELLS - cells)} {share}%"


def milestones_reached(raised: Decimal, goal: Decimal, announced: int) -> list[int]:
    """Milestones crossed and not yet announced (``announced``: the highest one told)."""
    share = percent(raised, goal)
    return [m for m in MILESTONES if announced < m <= share]


def parse_suggested(values: str | None) -> list[Decimal]:
    """Suggested amounts as kept in the link's metadata: ``"5000,10000"``."""
    if not values:
        return []
    return [Decimal(part) for part in values.split(",") if part.strip()]


def format_suggested(amounts: list[Decimal]) -> str:
    return ",".join(str(amount) for amount in amounts)


@dataclass(frozen=True)
class DriveProgress:
    raised: Decimal
    goal: Decimal
    donors: int

    @property
    def bar(self) -> str:
        return progress_bar(self.raised, self.goal)

    @property
    def percent(self) -> int:
        return percent(self.raised, self.goal)
