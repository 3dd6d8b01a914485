"""``Repo``: every query of the bot, as small named methods returning typed rows.

One class made of one part per table or concern, each in its own module over the same
``Database`` (conventions in ``base.py``): ``users``, ``credentials`` (and the keyed
fingerprints), ``links``, ``polling`` (the notifier's schedule), ``charges``, ``groups``,
``outbox``, ``meta``. Callers hold the one ``Repo`` (``services.repo``); its parts share
its database, vault and clock.
"""

from __future__ import annotations

from bot.store.charges import ChargeQueries
from bot.store.credentials import CredentialQueries
from bot.store.groups import GroupQueries
from bot.store.links import LinkQueries
from bot.store.meta import MetaQueries
from bot.store.outbox import OutboxQueries
from bot.store.polling import PollQueries
from bot.store.users import UserQueries


class Repo(
    UserQueries,
    CredentialQueries,
    LinkQueries,
    PollQueries,
    ChargeQueries,
    GroupQueries,
    OutboxQueries,
    MetaQueries,
):
    """The queries (``Repo(db, vault, clock=...)``)."""
