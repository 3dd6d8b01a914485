"""Staff: an owner's cashiers, who make links with the shop's key without ever seeing it.

The roles: the owner (whose key it is) and a cashier (joined with a one-time invite link,
24 h, single use; the token travels in the deep link, only its SHA-256 is stored). What a role
may do is decided here and asked in two places only: ``Accounts.api_key_for`` (a cashier's key
is the shop's) and the press gate (``handlers/gates.may_act_on``, ``handlers/staff.cashier_gate``
for what no cashier may do: archive, export, connect, settings, invite).

A cashier acts on the links they made, the owner on every link of the key. A link's alert goes
to its maker and, unless the owner turned it off for that cashier, to the owner; once a
cashier is removed their presses are refused and their links' alerts go to the owner alone.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bot.accounts import Accounts
from bot.dashboard import LinkLister
from bot.dgs.models import Link
from bot.store.db import Connection
from bot.store.models import StoredLink
from bot.store.repo import Repo
from bot.store.staff import Membership

INVITE_SECONDS = 24 * 3600
# ``/start staff_<token>``: Telegram allows 64 characters of [A-Za-z0-9_-] after /start.
START_PREFIX = "staff_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class JoinResult(Enum):
    JOINED = "joined"
    UNKNOWN = "unknown"  # never made, or already used
    EXPIRED = "expired"
    OWN = "own"  # the owner tapped their own invite
    BUSY = "busy"  # a cashier elsewhere, or an owner with cashiers of their own
    NO_KEY = "no-key"  # the owner has no key any more


@dataclass(frozen=True)
class Joined:
    result: JoinResult
    owner_user_id: int | None = None


class Staff:
    def __init__(
        self,
        repo: Repo,
        accounts: Accounts,
        lister: LinkLister,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._accounts = accounts
        self._lister = lister
        self.clock = clock  # tests move it to see an invite expire

    # --- invites -------------------------------------------------------------------------

    async def invite(self, owner_user_id: int, owner_name: str) -> str:
        """A new invite's token (to put in the deep link); it is stored only hashed."""
        token = secrets.token_urlsafe(24)  # 32 characters, 192 random bits
        now = self.clock()
        await self._repo.create_staff_invite(
            token_hash(token), owner_user_id, owner_name, now=now, expires_at=now + INVITE_SECONDS
        )
        return token

    async def join(self, token: str, user_id: int, name: str) -> Joined:
        """The invite's taker becomes a cashier of its shop, once."""
        hashed = token_hash(token)
        invite = await self._repo.get_staff_invite(hashed)
        now = self.clock()
        if invite is None or invite.used_by is not None:
            return Joined(JoinResult.UNKNOWN)
        if invite.expires_at <= now:
            return Joined(JoinResult.EXPIRED)
        owner = invite.owner_user_id
        if owner == user_id:
            return Joined(JoinResult.OWN, owner)
        if await self._repo.shop_of(user_id) is not None or await self._repo.staff_of(user_id):
            return Joined(JoinResult.BUSY, owner)
        if await self._repo.shop_of(owner) is not None:
            return Joined(JoinResult.BUSY, owner)  # a cashier's old invite: no shop to join
        key = await self._accounts.api_key_for(owner)
        if key is None:
            return Joined(JoinResult.NO_KEY, owner)
        fingerprint = self._repo.key_fingerprint(key)
        claimed = await self._repo.claim_staff_invite(hashed, user_id, name, fingerprint, now=now)
        if claimed is None:
            return Joined(JoinResult.UNKNOWN)  # another tap took it a moment ago
        return Joined(JoinResult.JOINED, claimed)

    # --- who is who ------------------------------------------------------------------------

    async def shop_of(self, user_id: int) -> Membership | None:
        """The shop the user works for as a cashier now, if any."""
        return await self._repo.shop_of(user_id)

    async def cashiers(self, owner_user_id: int) -> list[Membership]:
        return await self._repo.staff_of(owner_user_id)

    async def remove(self, owner_user_id: int, cashier_user_id: int) -> bool:
        """At once: the next press, alert or form step of theirs finds them removed."""
        return await self._repo.remove_cashier(owner_user_id, cashier_user_id, now=self.clock())

    async def set_owner_alerts(self, owner_user_id: int, cashier_user_id: int, on: bool) -> bool:
        return await self._repo.set_owner_alerts(owner_user_id, cashier_user_id, on)

    # --- what a role may do ----------------------------------------------------------------

    async def standing(self, user_id: int, stored: StoredLink) -> bool | None:
        """Whether the user may act on a link of a shop they are (or were) a cashier of: only
        on the links they made, only while they are one. None: the link is no shop's of
        theirs (the usual rules decide: the owner of the key passes)."""
        membership = await self._repo.staff_on_key(user_id, stored.api_key_fingerprint)
        if membership is None:
            return None
        return membership.active and stored.owner_user_id == user_id

    async def recipients(self, stored: StoredLink, *, conn: Connection) -> list[int]:
        """Who is told about the link's payments: its maker, and the shop's owner when the
        maker is a cashier (unless the owner chose not to); a removed cashier's links tell
        the owner alone."""
        maker = stored.owner_user_id
        membership = await self._repo.staff_on_key(maker, stored.api_key_fingerprint, conn=conn)
        if membership is None:
            return [maker]
        if not membership.active:
            return [membership.owner_user_id]
        return [maker, membership.owner_user_id] if membership.owner_alerts else [maker]

    async def links_for(self, api_key: str, user_id: int, *, fresh: bool = False) -> list[Link]:
        """The links ``/links`` shows: every link of the key, or a cashier's own ones (links
        the bot has no record of are learnt as the owner's, never as a cashier's)."""
        membership = await self._repo.shop_of(user_id)
        if membership is None:
            return await self._lister.links(api_key, user_id=user_id, fresh=fresh)
        every = await self._lister.links(api_key, user_id=membership.owner_user_id, fresh=fresh)
        mine = {
            stored.link_id
            for stored in await self._repo.links_of_user(user_id)
            if stored.api_key_fingerprint == membership.shop_fingerprint
        }
        return [link for link in every if link.id in mine]
