"""How the notifier's loops know the bot still runs: a callable, true until the stop."""

from __future__ import annotations

from collections.abc import Callable

Running = Callable[[], bool]


def always() -> bool:
    """For a loop that runs until it is done (tests, tools)."""
    return True
