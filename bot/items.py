"""Saved items and the till (issue 17, points 2 and 3): what a shop sells at a fixed price, and
the one-tap links made from them or from a typed amount.

Prices are read as the quick create reads them (``bot/quick.py``: ``Samosa 500``, ``500
Samosa``, ``50k``, ``5,000``). One tap on an item makes a fixed-amount link, or gives back the
link the item already has today (Kigali's day, the store's clock) while it is open at the same
name and price. A create whose outcome is unknown keeps its client reference until one
succeeds: the next tap (or the same amount typed again at the till) finds the link the first
try may have made instead of making a second one.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from bot import money
from bot.bounded import LRUDict
from bot.cleaners import DraftError, clean_amount, clean_title
from bot.dgs.errors import DGSError
from bot.dgs.models import KIGALI, AmountType, Link, LinkStatus
from bot.links import LinkDraft
from bot.linkservice import LinkService
from bot.quick import QuickUsageError, parse_quick
from bot.store.items import Item
from bot.store.repo import Repo

MAX_ITEMS = 50  # per shop
# Client references of creates not known to have succeeded, per item or till amount.
PENDING_REFS = 1024


class ItemUsageError(ValueError):
    """The text is not "a name and a price": show the example."""


class ItemLimitError(ValueError):
    """The shop already keeps ``MAX_ITEMS`` items."""


def parse_item(text: str, currency: str, language: str) -> tuple[str, Decimal]:
    """``Samosa 500`` (or ``500 Samosa``, ``Haircut 3k``) → (name, price); ``DraftError`` for
    a price that cannot be, ``ItemUsageError`` for anything else."""
    try:
        draft = parse_quick(text, currency, language)
    except QuickUsageError:
        raise ItemUsageError(text) from None
    if draft.kind is not AmountType.FIXED or draft.amount is None or draft.title is None:
        raise ItemUsageError(text)
    if draft.currency != currency:
        raise ItemUsageError(text)  # a shop's items are in its own currency
    return draft.title, draft.amount


def parse_edit(text: str, item: Item, language: str) -> tuple[str | None, Decimal | None]:
    """An edit: a price alone (``600``, ``1.5k``), a name and a price, or a new name alone."""
    try:
        return None, money.parse_amount(text, item.currency, language)
    except money.AmountError as error:
        if error.code != "amount-not-a-number":
            raise DraftError("amount", error.code, **error.params) from None
    try:
        return parse_item(text, item.currency, language)
    except ItemUsageError:
        return clean_title(text), None


class ItemService:
    """A shop's items and the links made from them; the till's links."""

    def __init__(self, repo: Repo, links: LinkService, *, limit: int = MAX_ITEMS) -> None:
        self._repo = repo
        self._links = links
        self.limit = limit
        self._pending: LRUDict[tuple[object, ...], str] = LRUDict(PENDING_REFS)

    def now(self) -> datetime:
        """Kigali's time by the store's clock (the one tests move)."""
        return datetime.fromtimestamp(self._repo.now(), KIGALI)

    def today(self) -> str:
        """Kigali's date now: the day an item's link belongs to."""
        return self.now().date().isoformat()

    async def items(self, owner: int) -> list[Item]:
        return await self._repo.items_of(owner)

    async def get(self, owner: int, item_id: int) -> Item | None:
        return await self._repo.get_item(owner, item_id)

    async def add(self, owner: int, text: str, currency: str, language: str) -> Item:
        name, price = parse_item(text, currency, language)
        item = await self._repo.add_item(owner, name, price, currency, limit=self.limit)
        if item is None:
            raise ItemLimitError(owner)
        return item

    async def edit(self, owner: int, item: Item, text: str, language: str) -> Item | None:
        name, price = parse_edit(text, item, language)
        if price is not None:
            price = clean_amount(str(price), item.currency, language)  # the currency's limits
        return await self._repo.update_item(owner, item.item_id, name=name, price=price)

    async def remove(self, owner: int, item_id: int) -> bool:
        return await self._repo.remove_item(owner, item_id)

    async def link_for(
        self, item: Item, *, api_key: str, owner: int, chat_id: int
    ) -> tuple[Link, bool]:
        """(the item's link, reused): today's open link for it, else a new one."""
        day = self.today()
        for link_id in await self._repo.item_links_on(item, day):
            stored = await self._links.stored(link_id)
            if stored is None or stored.status != LinkStatus.ACTIVE:
                continue
            try:
                details = await self._links.details(api_key, stored)
            except DGSError:
                continue  # gone or unreadable: a new link is what the vendor needs now
            if details.link.status == LinkStatus.ACTIVE:
                return details.link, True
        draft = LinkDraft(
            kind=AmountType.FIXED, title=item.name, currency=item.currency, amount=item.price
        )
        link = await self._create(
            ("item", item.item_id, day, item.name, item.price), draft, api_key, owner, chat_id
        )
        await self._repo.add_item_link(item, day, link.id)
        return link, False

    async def till_link(
        self,
        owner: int,
        amount: Decimal,
        currency: str,
        title: str,
        *,
        api_key: str,
        chat_id: int,
    ) -> Link:
        """A one-payment link for the customer at the counter."""
        draft = LinkDraft(
            kind=AmountType.FIXED, title=title, currency=currency, amount=amount, max_uses=1
        )
        return await self._create(
            ("till", owner, amount, currency), draft, api_key, owner, chat_id
        )

    async def _create(
        self, key: tuple[object, ...], draft: LinkDraft, api_key: str, owner: int, chat_id: int
    ) -> Link:
        ref = self._pending.get(key)
        draft.client_ref = ref or uuid.uuid4().hex
        self._pending[key] = draft.client_ref
        link = await self._links.create(
            draft,
            api_key=api_key,
            owner_user_id=owner,
            chat_id=chat_id,
            first_attempt=ref is None,
        )
        self._pending.pop(key, None)
        return link

    async def open_till(
        self, link_id: str, owner: int, chat_id: int, message_id: int, language: str
    ) -> None:
        """The till's QR message, to be edited to "Paid" when its payment is recorded."""
        await self._repo.open_till(link_id, owner, chat_id, message_id, language)
