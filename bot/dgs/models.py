"""Typed models of the DGS Payment Links API (the page + CONTRACT.md).

Parse tolerantly: unknown fields are ignored and optional fields may be missing.
Send strictly: request bodies hold only the page's fields, amounts as JSON numbers,
times as ``YYYY-MM-DD HH:MM:SS`` in Kigali time.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

KIGALI = ZoneInfo("Africa/Kigali")
PROVIDER_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The metadata key under which the bot tags a link it creates with its own reference: the
# client finds a create whose outcome is unknown by it; forms and the editor keep it out of
# what a vendor types or sees.
CLIENT_REF_KEY: Final = "paylinks_ref"

# What a provider amount may be: below 10^18 with at most 9 decimals, 27 digits in all, which
# Decimal's 28-digit context formats and rounds without fail. Anything else (1e30, 1e-40) is
# not money, and would fail later, when the amount is formatted.
AMOUNT_DIGITS = 18
AMOUNT_MAX_DECIMALS = 9
# Provider times outside these years cannot be money events, and year 1 overflows on the way
# to UTC.
PROVIDER_YEARS = range(1970, 9999)


def _exact_decimal(value: Any) -> Any:
    """Read JSON numbers and decimal strings exactly (never through a binary float)."""
    if isinstance(value, bool):
        raise ValueError("an amount cannot be a boolean")
    if isinstance(value, float):
        # The JSON decoder gave us a float: repr() is the shortest round-trip text of it,
        # which is the literal the provider wrote in every case that fits a double.
        return Decimal(repr(value))
    if isinstance(value, int | str):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            # Not a ValueError: pydantic would let it escape instead of refusing the field.
            raise ValueError("not a decimal number") from None
    return value


def _provider_amount(value: Any) -> Any:
    """An amount the provider sent: exact, finite, below 10^18, at most 9 decimals."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        # The sweep reads every link every interval: the same few prices, again and again.
        return _amount_of_text(str(value))
    value = _exact_decimal(value)
    if not isinstance(value, Decimal):
        return value  # pydantic refuses it
    return _checked_amount(value)


@lru_cache(maxsize=4096)
def _amount_of_text(text: str) -> Decimal:
    return _checked_amount(_exact_decimal(text))


def _checked_amount(value: Decimal) -> Decimal:
    # Decimal's own arithmetic (abs, compare) may overflow on 1e999999999: look at the digits.
    if not value.is_finite():
        raise ValueError("not a finite amount")
    if value.adjusted() >= AMOUNT_DIGITS:
        raise ValueError("amount out of range")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent >= -AMOUNT_MAX_DECIMALS:
        return value
    # Only trailing zeros (``1.000000000000``) may go beyond the decimals allowed.
    shorter = value.normalize()
    exponent = shorter.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -AMOUNT_MAX_DECIMALS or shorter != value:
        raise ValueError("amount too precise")
    return shorter


def _provider_time(value: Any) -> Any:
    """Parse ``YYYY-MM-DD HH:MM:SS`` (Kigali time) into an aware datetime."""
    if isinstance(value, str):
        text = value.strip()
        try:
            # ``YYYY-MM-DD HH:MM:SS`` is ISO 8601 with a space: fromisoformat reads it in C,
            # ten times faster than strptime (the sweep reads every link every interval).
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = datetime.strptime(text, PROVIDER_TIME_FORMAT)  # noqa: DTZ007
        if parsed.year not in PROVIDER_YEARS:
            raise ValueError("time out of range")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=KIGALI)
        return parsed.astimezone(KIGALI)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=KIGALI)
    return value


def _send_time(value: datetime) -> str:
    return value.astimezone(KIGALI).strftime(PROVIDER_TIME_FORMAT)


def _send_amount(value: Decimal) -> int | float:
    """JSON numbers, as the contract asks; integral amounts stay integers.

    A float is the JSON encoder's only non-integer number type. Every amount we send has at
    most three decimals (a currency's minor units), which a double holds without change.
    """
    if value == value.to_integral_value():
        return int(value)
    return float(value)


Amount = Annotated[Decimal, BeforeValidator(_provider_amount)]
SendAmount = Annotated[
    Decimal, BeforeValidator(_exact_decimal), PlainSerializer(_send_amount, return_type=Any)
]
ProviderTime = Annotated[datetime, BeforeValidator(_provider_time)]
SendTime = Annotated[
    datetime, BeforeValidator(_provider_time), PlainSerializer(_send_time, return_type=str)
]


class AmountType(StrEnum):
    FIXED = "fixed"
    FLEXIBLE = "flexible"


class PaymentType(StrEnum):
    CARD = "card"
    MOBILE_MONEY = "mobile_money"
    USSD = "ussd"
    BANK_TRANSFER = "bank_transfer"


ALL_PAYMENT_TYPES: tuple[PaymentType, ...] = tuple(PaymentType)


class LinkStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class ChargeStatus(StrEnum):
    SUCCESS = "success"
    PENDING = "pending"
    FAILED = "failed"


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Link(_Tolerant):
    """A payment link as the provider returns it. ``status`` stays a plain string: the
    contract says unknown statuses may appear and must be shown as they are."""

    id: str
    slug: str | None = None
    url: str | None = None
    title: str = ""
    amount_type: str = AmountType.FIXED
    amount: Amount | None = None
    min_amount: Amount | None = None
    max_amount: Amount | None = None
    currency: str = ""
    payment_types: list[str] = Field(default_factory=list)
    use_count: int = 0
    max_uses: int | None = None
    status: str = LinkStatus.ACTIVE
    expires_at: ProviderTime | None = None
    created_at: ProviderTime | None = None
    description: str | None = None
    redirect_url: str | None = None
    collect_phone: bool | None = None
    collect_name: bool | None = None
    collect_address: bool | None = None
    logo_url: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("payment_types", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("use_count", mode="before")
    @classmethod
    def _null_count(cls, value: Any) -> Any:
        return 0 if value is None else value

    @property
    def is_fixed(self) -> bool:
        return self.amount_type == AmountType.FIXED

    @property
    def is_final(self) -> bool:
        """Expired, completed and archived links take no more payments."""
        return self.status in (LinkStatus.EXPIRED, LinkStatus.COMPLETED, LinkStatus.ARCHIVED)


class Stats(_Tolerant):
    total_charges: int = 0
    successful_charges: int = 0
    pending_charges: int = 0
    failed_charges: int = 0
    total_collected: Amount = Decimal(0)
    currency: str = ""

    @field_validator(
        "total_charges",
        "successful_charges",
        "pending_charges",
        "failed_charges",
        mode="before",
    )
    @classmethod
    def _null_counter(cls, value: Any) -> Any:
        return 0 if value is None else value

    @field_validator("total_collected", mode="before")
    @classmethod
    def _null_total(cls, value: Any) -> Any:
        return Decimal(0) if value is None else _provider_amount(value)


class Charge(_Tolerant):
    id: str
    amount: Amount = Decimal(0)
    currency: str = ""
    status: str = ChargeStatus.PENDING
    created_at: ProviderTime | None = None
    payment_type: str | None = None
    payer_name: str | None = None
    payer_phone: str | None = None


class LinkDetails(_Tolerant):
    """``GET /payment-links/{id}``: the link, its stats and at most ten newest charges."""

    link: Link
    stats: Stats = Field(default_factory=Stats)
    recent_charges: list[Charge] = Field(default_factory=list)

    @field_validator("recent_charges", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class Pagination(_Tolerant):
    page: int = 1
    per_page: int = 20
    total: int = 0
    total_pages: int = 0


class LinkPage(_Tolerant):
    links: list[Link] = Field(default_factory=list)
    pagination: Pagination = Field(default_factory=Pagination)


class RawLinkPage(_Tolerant):
    """A list page whose links are not read yet (each is read on its own)."""

    links: list[Any] = Field(default_factory=list)
    pagination: Pagination = Field(default_factory=Pagination)

    @field_validator("links", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


def parse_link_page(data: dict[str, Any]) -> tuple[LinkPage, list[Any]]:
    """The page with each link read on its own, and the raw items that could not be read:
    one bad link must not hide the others.

    Raises ``ValidationError`` when the page itself (its list, its pagination) is unreadable.
    """
    raw = RawLinkPage.model_validate(data)
    links: list[Link] = []
    unreadable: list[Any] = []
    for item in raw.links:
        try:
            links.append(Link.model_validate(item))
        except ValidationError:
            unreadable.append(item)
    return LinkPage(links=links, pagination=raw.pagination), unreadable


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        """The request body: only fields that were given, in the page's names and types."""
        body: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        return body


class LinkCreate(_Request):
    """``POST /payment-links`` body. Optional fields left unset are not sent."""

    title: str
    amount_type: AmountType
    currency: str
    amount: SendAmount | None = None
    min_amount: SendAmount | None = None
    max_amount: SendAmount | None = None
    payment_types: list[PaymentType] | None = None
    slug: str | None = None
    description: str | None = None
    redirect_url: str | None = None
    max_uses: int | None = None
    expires_at: SendTime | None = None
    collect_phone: bool | None = None
    collect_name: bool | None = None
    collect_address: bool | None = None
    logo_url: str | None = None
    metadata: dict[str, Any] | None = None


class LinkUpdate(LinkCreate):
    """``PATCH /payment-links/{id}`` body: any subset of the create fields.

    Only fields passed to the constructor are sent, so ``LinkUpdate(max_uses=None)`` sends
    ``{"max_uses": null}`` (unlimited) while ``LinkUpdate(title="x")`` sends only the title.
    """

    title: str = ""
    amount_type: AmountType = AmountType.FIXED
    currency: str = ""


def metadata_size(metadata: dict[str, Any]) -> int:
    """Bytes of the metadata as sent (the contract caps it at 4 KiB)."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())
