"""The tests' fake Telegram Bot API: the product's local Bot API (``bot.devtools.botapi``)
under the names the tests use.

The bot under test talks to it through python-telegram-bot's own HTTP layer; tests play the
people on the other side (``tg.send_text``, ``tg.press`` ...) and read what the bot did
(``tg.sent_to``, ``tg.wait_for_message`` ...). See ``bot/devtools/botapi/server.py``
(and its roles beside it: ``people.py``, ``inspection.py``, ``methods.py``).
"""

from __future__ import annotations

from bot.devtools.botapi import *  # noqa: F403 - the whole test-side API, under the product's names
from bot.devtools.botapi import ChatGroup as FakeGroup
from bot.devtools.botapi import ChatMessage as FakeMessage
from bot.devtools.botapi import ChatUser as FakeUser
from bot.devtools.botapi import LocalBotApi as FakeTelegram
from bot.devtools.botapi import __all__ as _product_names

__all__ = [*_product_names, "FakeGroup", "FakeMessage", "FakeTelegram", "FakeUser"]  # noqa: PLE0604
