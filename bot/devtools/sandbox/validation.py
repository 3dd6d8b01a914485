"""Validation of create and PATCH bodies, as the contract and the sandbox's choices say."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from babel.numbers import get_currency_precision, list_currencies

from bot.devtools.sandbox.protocol import MAX_AMOUNT, METADATA_LIMIT, TIME_FORMAT
from bot.devtools.sandbox.store import ALL_PAYMENT_TYPES, LinkRecord, json_dumps
from bot.dgs.models import KIGALI

_CURRENCIES = frozenset(list_currencies())
_SLUG_RE = re.compile(r"[a-z0-9-]{3,64}")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class _FieldError(ValueError):
    pass


def _check_title(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        raise _FieldError("Must be a string.")
    if not value.strip():
        raise _FieldError("Must not be blank.")
    if len(value) > 100:
        raise _FieldError("Must be at most 100 characters.")
    return value


def _check_amount_type(value: Any, now: datetime) -> str:
    if value not in ("fixed", "flexible"):
        raise _FieldError("Must be 'fixed' or 'flexible'.")
    return str(value)


def _check_currency(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or value not in _CURRENCIES:
        raise _FieldError("Must be an ISO 4217 currency code, such as RWF.")
    return value


def _check_amount(value: Any, now: datetime) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _FieldError("Must be a number.")
    amount = Decimal(value)
    if amount <= 0:
        raise _FieldError("Must be greater than zero.")
    if amount >= MAX_AMOUNT:
        raise _FieldError("Must be less than 1000000000000000.")
    return amount


def _check_payment_types(value: Any, now: datetime) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _FieldError("Must be a non-empty list of payment methods.")
    for item in value:
        if item not in ALL_PAYMENT_TYPES:
            raise _FieldError(f"Each method must be one of: {', '.join(ALL_PAYMENT_TYPES)}.")
    if len(set(value)) != len(value):
        raise _FieldError("Must not list a method twice.")
    return [str(item) for item in value]


def _check_slug(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise _FieldError("Must be 3 to 64 characters of a-z, 0-9 and '-'.")
    return value


def _check_text(value: Any, now: datetime) -> str:
    if not isinstance(value, str):
        raise _FieldError("Must be a string.")
    return value


def _check_https_url(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        raise _FieldError("Must be an absolute https:// URL.")
    try:
        parts = urlsplit(value)
        ok = parts.scheme == "https" and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise _FieldError("Must be an absolute https:// URL.")
    return value


def _check_max_uses(value: Any, now: datetime) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _FieldError("Must be an integer of at least 1, or null for unlimited.")
    return value


def _check_expires_at(value: Any, now: datetime) -> str:
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        raise _FieldError("Must be a date and time as YYYY-MM-DD HH:MM:SS (Kigali time).")
    try:
        moment = datetime.strptime(value, TIME_FORMAT).replace(tzinfo=KIGALI)
    except ValueError:
        raise _FieldError("Must be a real date and time.") from None
    if moment <= now:
        raise _FieldError("Must be in the future.")
    return value


def _check_bool(value: Any, now: datetime) -> bool:
    if not isinstance(value, bool):
        raise _FieldError("Must be true or false.")
    return value


def _check_metadata(value: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError("Must be a JSON object.")
    if len(json_dumps(value, compact=True).encode()) > METADATA_LIMIT:
        raise _FieldError("Must be at most 4 KiB when serialized.")
    return value


_CHECKS: dict[str, Callable[[Any, datetime], Any]] = {
    "title": _check_title,
    "amount_type": _check_amount_type,
    "currency": _check_currency,
    "amount": _check_amount,
    "min_amount": _check_amount,
    "max_amount": _check_amount,
    "payment_types": _check_payment_types,
    "slug": _check_slug,
    "description": _check_text,
    "redirect_url": _check_https_url,
    "max_uses": _check_max_uses,
    "expires_at": _check_expires_at,
    "collect_phone": _check_bool,
    "collect_name": _check_bool,
    "collect_address": _check_bool,
    "logo_url": _check_https_url,
    "metadata": _check_metadata,
}
_NOT_NULL = ("title", "amount_type", "currency")
_AMOUNT_FIELDS = ("amount", "min_amount", "max_amount")


def _defaults() -> dict[str, Any]:
    return {
        "title": None,
        "amount_type": None,
        "currency": None,
        "amount": None,
        "min_amount": None,
        "max_amount": None,
        "payment_types": list(ALL_PAYMENT_TYPES),
        "description": None,
        "redirect_url": None,
        "max_uses": None,
        "expires_at": None,
        "collect_phone": True,
        "collect_name": True,
        "collect_address": False,
        "logo_url": None,
        "metadata": None,
    }


@dataclass
class _Checked:
    given: dict[str, Any]  # the fields of the body, checked and normalized
    merged: dict[str, Any]  # the whole link as it would be (slug aside)
    errors: dict[str, list[str]]


def validate_link(body: dict[str, Any], *, current: LinkRecord | None, now: datetime) -> _Checked:
    """Check a create body (``current`` is None) or a PATCH body against ``current``."""
    errors: dict[str, list[str]] = {}
    given: dict[str, Any] = {}
    defaults = _defaults()

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, value in body.items():
        check = _CHECKS.get(name)
        if check is None:
            fail(name, "Unknown field.")
        elif value is None:
            if name in _NOT_NULL or (name == "slug" and current is not None):
                fail(name, "May not be null.")
            elif current is not None:
                given[name] = defaults[name]
        else:
            try:
                given[name] = check(value, now)
            except _FieldError as exc:
                fail(name, str(exc))
    if current is None:
        for name in _NOT_NULL:
            if name not in body:
                fail(name, "This field is required.")
        merged = defaults
    else:
        merged = {name: getattr(current, name) for name in defaults}
    merged.update({name: value for name, value in given.items() if name != "slug"})

    amount_type = merged["amount_type"]
    if amount_type is not None and "amount_type" not in errors:
        if amount_type == "fixed":
            if merged["amount"] is None and "amount" not in errors:
                fail("amount", "Required when amount_type is fixed.")
            for name in ("min_amount", "max_amount"):
                if merged[name] is not None:
                    fail(name, "Only allowed when amount_type is flexible.")
        else:
            if merged["amount"] is not None:
                fail("amount", "Not allowed when amount_type is flexible.")
            low, high = merged["min_amount"], merged["max_amount"]
            if low is not None and high is not None and low > high:
                fail("min_amount", "Must not be more than max_amount.")
    currency = merged["currency"]
    if currency is not None and "currency" not in errors:
        places = get_currency_precision(currency)
        for name in _AMOUNT_FIELDS:
            value = merged[name]
            if value is not None and name not in errors and _decimal_places(value) > places:
                if places == 0:
                    fail(name, f"{currency} has no minor unit: use a whole amount.")
                else:
                    fail(name, f"{currency} allows at most {places} decimal places.")
    return _Checked(given=given, merged=merged, errors=errors)


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def slugify(title: str) -> str:
    """A slug from a title: ASCII letters and digits joined by dashes, 3–48 characters."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:48].strip("-")
    if len(slug) < 3:
        slug = f"{slug}-link".strip("-")
    return slug
