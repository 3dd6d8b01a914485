"""When each link is polled in detail next.

A link is *active* when it had a charge, or was made, within the last hour, or has a charge
still pending: it is polled every interval (±10 % jitter, so polls spread out instead of
arriving in herds). A quiet link is not polled blindly: the sweep of its key's list, every
interval, shows a payment (``use_count``) or a status change and makes it due at once. Pending
and failed charges do not move ``use_count``, so a quiet link is still looked at in detail
once a day (``quiet_poll``), in case one went unseen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.dgs.models import LinkDetails
from bot.notify.diff import LinkDiff
from bot.store.models import PollTarget


@dataclass(frozen=True)
class ScheduleRules:
    interval: float  # POLL_INTERVAL_SECONDS: how often an active link is polled
    active_window: float  # a charge (or creation) this recent keeps a link active
    quiet_poll: float  # a quiet link's safety poll
    jitter: float


class Schedule:
    def __init__(self, rules: ScheduleRules, rng: random.Random | None = None) -> None:
        self.rules = rules
        self._rng = rng or random.Random()

    def jittered(self, seconds: float) -> float:
        j = self.rules.jitter
        return seconds * self._rng.uniform(1 - j, 1 + j)

    def quiet_from(self, now: float) -> float:
        """The next poll of a link that is quiet now."""
        return now + self.jittered(self.rules.quiet_poll)

    def if_nothing_new(self, target: PollTarget, now: float) -> tuple[float, int]:
        """Next poll time and quiet steps if this poll finds nothing new (the common case:
        written when the link is taken from the due list)."""
        rules = self.rules
        window = rules.active_window
        recent_charge = target.last_charge_at is not None and now - target.last_charge_at < window
        if recent_charge or now - target.created_at < window:
            return now + self.jittered(rules.interval), 0
        return self.quiet_from(now), target.quiet_steps + 1

    def after(
        self,
        target: PollTarget,
        details: LinkDetails,
        result: LinkDiff,
        stored_status: str,
        now: float,
        *,
        busy: bool,
    ) -> tuple[float, int, bool]:
        """(next poll, quiet steps, final) after a poll that found something."""
        interval = self.rules.interval
        if details.link.is_final:
            if details.link.status != stored_status:
                return now + self.jittered(interval), 0, False  # one last poll to come
            return now, target.quiet_steps, True
        if busy or result.activity:
            return now + self.jittered(interval), 0, False
        next_poll_at, steps = self.if_nothing_new(target, now)
        return next_poll_at, steps, False
