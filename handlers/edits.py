"""Edited messages are not acted on: one gate, at the head of the flows.

PTB's command and message handlers take edited messages as well as new ones, so editing
``/new 5000 Rnet`` into ``/new 5000 Rent`` would make a second live link, and an edited form
or editor answer would be taken as a new answer. This gate stops every edited message before
the flows see it (``ApplicationHandlerStop``); only the group key guard, registered before it,
still looks at edits. A private edit of a command gets one line, once per message, so the
person knows to send it again.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.bounded import LRUSet
from bot.context import BotContext

# Messages already told "send it again" (in memory: after a restart one more line is fine).
ANSWERED_MAX = 10_000


class EditGate:
    def __init__(self) -> None:
        self._answered: LRUSet[tuple[int, int]] = LRUSet(ANSWERED_MAX)

    async def ignore(self, update: Update, context: BotContext) -> None:
        message = update.effective_message
        chat = update.effective_chat
        if (
            message is not None
            and chat is not None
            and chat.type == ChatType.PRIVATE
            and filters.COMMAND.check_update(update)
            and (chat.id, message.message_id) not in self._answered
        ):
            self._answered.add((chat.id, message.message_id))
            await context.bot.send_message(chat.id, context.tr("edit-not-acted-on"))
        raise ApplicationHandlerStop

    def handler(self) -> MessageHandler[BotContext, None]:
        return MessageHandler(filters.UpdateType.EDITED, self.ignore)


def edit_gate() -> MessageHandler[BotContext, None]:
    """The gate's handler; register it before every flow, after the group key guard."""
    return EditGate().handler()
