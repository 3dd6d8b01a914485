"""The services handlers and jobs share, opened together and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from bot import qr
from bot.accounts import Accounts
from bot.config import Settings
from bot.dashboard import LinkLister
from bot.dgs.client import DGSClient
from bot.groups import GroupDirectory
from bot.i18n import Catalogues
from bot.items import ItemService
from bot.linkfinder import LinkFinder
from bot.linkservice import LinkService
from bot.reminders import Reminders
from bot.staff import Staff
from bot.store.drives import DriveRepo
from bot.store.engine import Database, open_database
from bot.store.repo import Repo
from bot.store.secrets import KeyVault, load_or_create_key
from bot.users import UserDirectory

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    catalogues: Catalogues
    db: Database
    repo: Repo
    dgs: DGSClient
    accounts: Accounts
    users: UserDirectory
    links: LinkService
    groups: GroupDirectory
    lister: LinkLister
    drives: DriveRepo
    finder: LinkFinder
    staff: Staff  # issue 17: cashiers, their invites, what each role may do
    items: ItemService  # issue 17: saved items and the till
    reminders: Reminders  # issue 17: invoice reminders, the daily totals' setting
    sandbox_mode: bool = False


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    dgs_base_url: str | None = None,
    sandbox_mode: bool = False,
    dgs_transport: httpx.AsyncBaseTransport | None = None,
    catalogues: Catalogues | None = None,
) -> AsyncIterator[Services]:
    """Open the database (checking the encryption key first) and the provider client."""
    key = load_or_create_key(
        settings.bot_data_dir,
        settings.bot_encryption_key.get_secret_value() if settings.bot_encryption_key else None,
    )
    vault = KeyVault(key)
    db = await open_database(settings.database_target)
    links: LinkService | None = None
    try:
        repo = Repo(db, vault)
        # A wrong key must stop us before anything writes a row with it.
        await repo.verify_vault()
        operator_key = settings.dgs_api_key
        await repo.upgrade_fingerprints([operator_key.get_secret_value()] if operator_key else [])
        async with DGSClient(
            dgs_base_url or settings.dgs_api_base_url,
            requests_per_second_per_key=settings.dgs_requests_per_second,
            max_requests_per_second_per_key=settings.dgs_rate_ceiling,
            transport=dgs_transport,
        ) as dgs:
            links = LinkService(dgs, repo)
            accounts = Accounts(settings, repo, dgs, sandbox=sandbox_mode)
            yield Services(
                settings=settings,
                catalogues=catalogues or Catalogues.load(),
                db=db,
                repo=repo,
                dgs=dgs,
                accounts=accounts,
                users=UserDirectory(repo, settings),
                links=links,
                groups=GroupDirectory(repo),
                lister=(lister := LinkLister(dgs, repo, links)),
                drives=DriveRepo(db),
                finder=LinkFinder(dgs, repo, accounts, links),
                items=ItemService(repo, links),
                reminders=Reminders(repo),
                staff=Staff(repo, accounts, lister),
                sandbox_mode=sandbox_mode,
            )
    finally:
        # The QR cards' render workers (bot/qr.py) end with the bot, not at interpreter exit.
        await asyncio.to_thread(qr.stop_renderer)
        if links is not None:
            # Links still unrecorded get one last try while the database is open.
            await links.close()
        await db.close()
