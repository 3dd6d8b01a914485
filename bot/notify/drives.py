"""Keeps each drive's card in its group current: redrawn when the poller's figures change,
never more often than every 10 seconds per group (Telegram allows a group about 20 messages
a minute, and a card edit counts).

Redrawing is idempotent (the card shows the latest snapshot), so it needs no outbox: a crash
just means the next pass draws it. Milestones, which are messages, go through the outbox
(``bot/notify/poller.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application

from bot.drive_card import drive_caption, drive_keyboard

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

EDIT_EVERY_SECONDS = 10.0


class DriveRefresher:
    def __init__(
        self,
        app: Application[Any, Any, Any, Any, Any, Any],
        services: Services,
        *,
        clock: Callable[[], float] = time.time,
        min_interval: float = EDIT_EVERY_SECONDS,
    ) -> None:
        self._app = app
        self._services = services
        self._clock = clock
        self._min_interval = min_interval
        self._drawn: dict[str, bytes] = {}  # link id → digest of the caption on the card
        self._group_edited: dict[int, float] = {}  # group → when we last edited a card there

    async def refresh(self) -> int:
        """Redraw every card whose figures changed and whose group may be edited; returns
        how many cards were edited. (One pass at a time: ``Notifier._every``.)"""
        services = self._services
        edited = 0
        for drive in await services.drives.with_cards():
            stored = await services.repo.get_link(drive.link_id)
            if stored is None or stored.snapshot is None or drive.card_message_id is None:
                continue
            group = await services.groups.get(drive.group_chat_id)
            if group is None or not group.active:
                continue
            tr = services.catalogues.translator(
                group.language or services.settings.bot_default_language
            )
            caption = drive_caption(stored.snapshot, drive, tr)
            digest = hashlib.sha256(caption.encode()).digest()
            if self._drawn.get(drive.link_id) == digest:
                continue
            now = self._clock()
            last = max(drive.card_edited_at, self._group_edited.get(drive.group_chat_id, 0.0))
            # A last edit "in the future" means the clock was set back: it is no reason to
            # wait the size of the step.
            if 0 <= now - last < self._min_interval:
                continue  # the next pass after the throttle draws the latest figures
            keyboard = drive_keyboard(stored.snapshot, tr, demo_mode=services.settings.demo_mode)
            try:
                await self._app.bot.edit_message_caption(
                    chat_id=drive.group_chat_id,
                    message_id=drive.card_message_id,
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard,
                )
            except RetryAfter as exc:
                log.info("drive card of %s waits for Telegram: %s", drive.link_id, exc)
                self._group_edited[drive.group_chat_id] = now
                continue
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    # The card was deleted, or is too old to edit: stop trying this caption.
                    log.info("drive card of %s cannot be edited: %s", drive.link_id, exc)
            except Forbidden:
                log.info(
                    "no longer in group %s; its drive card stays as it is", drive.group_chat_id
                )
            except TelegramError as exc:
                log.warning("drive card of %s: %s", drive.link_id, exc)
                continue
            else:
                edited += 1
            self._drawn[drive.link_id] = digest
            self._group_edited[drive.group_chat_id] = now
            await services.drives.card_edited(drive.link_id)
        return edited
