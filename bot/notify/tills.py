"""Marks the till's QR message paid (issue 17, point 3): a job that looks, every second, for
till messages whose link has a successful payment recorded, and edits each once to "✅ Paid:
RWF 5,000 by Aline" with a **Next customer** button.

It reads what the pump (``poller.py`` → ``recording.py``) already stored, so it adds no call to
DGS: a till's link is a fresh link, polled every interval as an active one
(``schedule.py``), and the sweep sees its ``use_count`` move in any case. The paid mark
therefore lands within one poll interval of the payment, plus at most a second.

Editing is idempotent: the row is closed only after Telegram took the edit (or said the
message is gone or already reads so), so a failed edit is tried again on the next pass.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot.till_card import next_customer_keyboard, paid_caption

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

TILL_CHECK_SECONDS = 1.0


class TillMarker:
    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], services: Services) -> None:
        self._app = app
        self._services = services

    async def refresh(self) -> int:
        """Edit every paid till message; returns how many were marked. (One pass at a time:
        ``Notifier._every``.)"""
        repo = self._services.repo
        marked = 0
        for paid in await repo.tills_paid():
            tr = self._services.catalogues.translator(paid.language)
            try:
                await self._app.bot.edit_message_caption(
                    chat_id=paid.chat_id,
                    message_id=paid.message_id,
                    caption=paid_caption(paid.amount, paid.currency, paid.payer_name, tr),
                    parse_mode=ParseMode.HTML,
                    reply_markup=next_customer_keyboard(paid.owner_user_id, tr),
                )
            except (BadRequest, Forbidden) as error:
                # Gone, blocked, or already reads so: nothing more to do for this message.
                log.info("till %s: not marked paid: %s", paid.link_id, error.message)
            except TelegramError as error:
                log.info("till %s: edit failed, next pass tries again: %s", paid.link_id, error)
                continue
            if await repo.close_till(paid.link_id):
                marked += 1
        return marked
