"""Typed, frozen rows returned by ``Repo``.

Moments people see (``created_at`` …) are timezone-aware UTC datetimes; the scheduler's
fields (``next_poll_at``, ``not_before``) are epoch seconds, compared with ``time.time()``.
Money is ``Decimal``, exactly as it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from bot.dgs.models import LinkDetails


class NotifyLevel(StrEnum):
    ALL = "all"
    PAYMENTS = "payments"
    OFF = "off"


class CredentialStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"


class OutboxState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    language: str | None  # None: not chosen yet
    default_currency: str | None
    notify_level: NotifyLevel
    active: bool  # False once the user blocked the bot
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Credential:
    """A user's API key, described without its secret."""

    user_id: int
    key_last4: str
    key_fingerprint: str
    status: CredentialStatus
    created_at: datetime

    @property
    def is_valid(self) -> bool:
        return self.status is CredentialStatus.VALID


@dataclass(frozen=True, slots=True)
class Group:
    chat_id: int
    title: str
    language: str | None
    active: bool
    anonymous_totals: bool
    added_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredLink:
    link_id: str
    owner_user_id: int
    api_key_fingerprint: str
    chat_id: int | None  # the chat it was made in
    group_chat_id: int | None  # the group it belongs to
    title: str
    slug: str | None
    url: str | None
    currency: str
    status: str
    snapshot: LinkDetails | None  # the poller's last view of it
    next_poll_at: float
    quiet_steps: int
    last_charge_at: datetime | None
    final_polled: bool  # a final-status link that had its last poll
    muted: bool
    created_at: datetime
    client_ref: str | None


@dataclass(frozen=True, slots=True)
class StoredCharge:
    link_id: str
    charge_id: str
    amount: Decimal
    currency: str
    status: str
    payer_name: str | None
    payment_type: str | None
    created_at: datetime | None  # the provider's time
    first_seen_at: datetime
    status_changed_at: datetime
    pending_noted: bool


@dataclass(frozen=True, slots=True)
class ChargeChange:
    """A charge seen for the first time (``previous_status`` None) or with a new status."""

    charge: StoredCharge
    previous_status: str | None

    @property
    def is_new(self) -> bool:
        return self.previous_status is None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    chat_id: int
    user_id: int | None
    kind: str
    payload: dict[str, Any]
    created_at: datetime
    state: OutboxState
    attempts: int  # claims so far, this one included
    not_before: float
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class PollTarget:
    """A link due for a poll: what scheduling and alerting need, without the snapshot."""

    link_id: str
    owner_user_id: int
    api_key_fingerprint: str
    status: str
    next_poll_at: float
    quiet_steps: int
    last_charge_at: float | None  # epoch seconds
    created_at: float  # epoch seconds
    muted: bool
    group_chat_id: int | None
    notify_level: NotifyLevel  # the owner's


@dataclass(frozen=True, slots=True)
class LinkState:
    """What the sweep compares with the provider's list."""

    link_id: str
    owner_user_id: int
    api_key_fingerprint: str
    status: str
    final_polled: bool
    use_count: int | None  # successful payments at the last details poll stored (None: none)
