"""Reminders for unpaid invoices (issue 17, point 4): which links may have one, the choices,
and when each choice reminds.

An invoice is a fixed-amount link for one payment (``max_uses`` 1). The vendor picks the
reminder on the link's card (``handlers/reminders.py``): the card is where they look at an
unpaid invoice, and a button there costs nothing to the vendor who never wants one, whereas a
question in the create form would be one more step for every link. The reminder goes to the
vendor only (``bot/notify/reminding.py``): the bot never writes to a customer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.dgs.models import Link, LinkStatus
from bot.store.daily import DailyMode, DailySetting
from bot.store.reminders import Reminder

if TYPE_CHECKING:
    from bot.store.repo import Repo

DAY = 24 * 3600.0
IN_1_DAY = "1d"
IN_3_DAYS = "3d"
BEFORE_EXPIRY = "exp"


def is_invoice(link: Link) -> bool:
    """A fixed amount, one payment, still open and unpaid: what a reminder is for."""
    return (
        link.is_fixed
        and link.amount is not None
        and link.max_uses == 1
        and link.status == LinkStatus.ACTIVE
        and link.use_count == 0
    )


def choices(link: Link, now: float) -> tuple[str, ...]:
    """The choices the card offers: "before it expires" only when it expires after now."""
    found = [IN_1_DAY, IN_3_DAYS]
    if link.expires_at is not None and link.expires_at.timestamp() > now:
        found.append(BEFORE_EXPIRY)
    return tuple(found)


def remind_at(choice: str, link: Link, now: float) -> float | None:
    """When ``choice`` reminds, counted from ``now`` (when the vendor chose); None when the
    choice does not apply to the link (it no longer expires, or already has)."""
    if choice == IN_1_DAY:
        return now + DAY
    if choice == IN_3_DAYS:
        return now + 3 * DAY
    if choice == BEFORE_EXPIRY and link.expires_at is not None:
        expires = link.expires_at.timestamp()
        if expires <= now:
            return None
        # A day ahead gives the customer time to pay; a link closer to its end than that is
        # reminded halfway there.
        return max(expires - DAY, now + (expires - now) / 2)
    return None


class Reminders:
    """What the bot tells a vendor of its own accord, as the handlers set it: an invoice's
    reminder (its link checked by the caller: ``is_invoice``) and the daily totals' setting."""

    def __init__(self, repo: Repo, *, clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        # The wall clock of the choices and of the jobs that send (``bot/notify/daily.py``
        # reads this one): tests move it to the day's time.
        self.clock = clock

    async def remind(self, link: Link, user_id: int, choice: str) -> float | None:
        """Set the link's reminder; when it will come, or None when the choice does not apply."""
        moment = remind_at(choice, link, self.clock())
        if moment is None or link.amount is None:
            return None
        await self._repo.set_reminder(
            link.id, user_id, choice, moment, amount=link.amount, currency=link.currency
        )
        return moment

    async def cancel(self, link_id: str) -> None:
        await self._repo.clear_reminder(link_id)

    async def pending(self, link_id: str) -> Reminder | None:
        """The link's reminder still to come, if any."""
        reminder = await self._repo.get_reminder(link_id)
        return reminder if reminder is not None and reminder.state == "pending" else None

    async def daily(self, user_id: int) -> DailySetting:
        return await self._repo.get_daily_setting(user_id)

    async def set_daily(
        self, user_id: int, *, mode: DailyMode | None = None, minute: int | None = None
    ) -> DailySetting:
        current = await self._repo.get_daily_setting(user_id)
        chosen = DailySetting(
            mode if mode is not None else current.mode,
            minute if minute is not None else current.minute,
        )
        await self._repo.set_daily_setting(user_id, chosen)
        return chosen
