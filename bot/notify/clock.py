"""Noticing the wall clock step back.

What the notifier stores (a link's next poll, an alert's next try) is wall time, so that it
survives a restart; what it waits for in memory is monotonic time. When the wall clock is set
back (NTP after a long sleep, an operator's date command), every stored time would wait the
size of the step: ``StepWatch`` notices the step against the monotonic clock, and the stored
times are moved back by as much.
"""

from __future__ import annotations


class StepWatch:
    """Compares how far the wall clock and the monotonic clock moved since the last look."""

    def __init__(self, *, tolerance: float = 1.0) -> None:
        self._tolerance = tolerance  # seconds of disagreement that are not a step
        self._last: tuple[float, float] | None = None

    def stepped_back(self, wall: float, mono: float) -> float:
        """Seconds the wall clock went back since the last reading (0.0 when it did not);
        ``wall`` and ``mono`` are the two clocks read now."""
        last, self._last = self._last, (wall, mono)
        if last is None:
            return 0.0
        lag = (mono - last[1]) - (wall - last[0])
        return lag if lag > self._tolerance else 0.0
