"""``Repo``: every query of the bot, as small named methods returning typed rows.

One class made of one part per table or concern, each in its own module over the same
``Database`` (conventions in ``base.py``): ``users``, ``credentials`` (and the keyed
fingerprints), ``links``, ``polling`` (the notifier's schedule), ``charges``, ``groups``,
``outbox``, ``meta``, ``items`` (saved items and the till). Callers hold the one ``Repo``
(``services.repo``); its parts share its database, vault and clock.
"""

from __future__ import annotations

from bot.store.charges import ChargeQueries
from bot.store.credentials import CredentialQueries
from bot.store.daily import DailyQueries
from bot.store.groups import GroupQueries
from bot.store.inbox import InboxQueries
from bot.store.items import ItemQueries
from bot.store.links import LinkQueries
from bot.store.meta import MetaQueries
from bot.store.outbox import OutboxQueries
from bot.store.polling import PollQueries
from bot.store.reminders import ReminderQueries
from bot.store.replicas import ReplicaQueries
from bot.store.staff import StaffQueries
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
    ItemQueries,  # issue 17: saved items and the till
    ReminderQueries,  # issue 17: an unpaid invoice's reminder
    DailyQueries,  # issue 17: the daily totals
    InboxQueries,  # issue 16: updates waiting for a replica
    ReplicaQueries,  # issue 16: live replicas, once-only jobs
    StaffQueries,  # issue 17: cashiers and their invites
):
    """The queries (``Repo(db, vault, clock=...)``)."""
