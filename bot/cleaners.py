"""One answer at a time: typed text cleaned into a field's value, or refused.

Shared by the create form, quick create and the editor (through ``bot.fields``). Every refusal
is a ``DraftError(field, code, **params)`` whose ``code`` is an i18n message key.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot import money
from bot.dgs.models import (
    ALL_PAYMENT_TYPES,
    CLIENT_REF_KEY,
    KIGALI,
    AmountType,
    PaymentType,
    metadata_size,
)

if TYPE_CHECKING:
    from bot.links import LinkDraft

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
SLUG_MIN, SLUG_MAX = 3, 64
URL_MAX = 2048
MAX_USES_MAX = 1_000_000_000
METADATA_MAX_BYTES = 4096
# The client adds its own reference (``"paylinks_ref":"<uuid>"``) to the metadata it sends,
# so the vendor's part must leave room for it under the provider's 4 KiB.
METADATA_REF_HEADROOM = 128
METADATA_USER_MAX_BYTES = METADATA_MAX_BYTES - METADATA_REF_HEADROOM
# Objects and lists inside each other: reference data needs few levels, and a deep one would
# reach Python's recursion limit in the JSON parser (2000 levels fit in 4 KB).
METADATA_MAX_DEPTH = 8

DEFAULT_COLLECT = {"collect_phone": True, "collect_name": True, "collect_address": False}

DRAFT_ERROR_CODES: tuple[str, ...] = (
    "draft-title-empty",
    "draft-title-too-long",
    "draft-kind-missing",
    "draft-currency-missing",
    "draft-currency-unknown",
    "draft-amount-missing",
    "draft-amount-not-allowed",
    "draft-range-not-allowed",
    "draft-min-over-max",
    "draft-payment-types-empty",
    "draft-payment-type-unknown",
    "draft-max-uses-invalid",
    "draft-expiry-unparsed",
    "draft-expiry-past",
    "draft-description-empty",
    "draft-description-too-long",
    "draft-slug-invalid",
    "draft-url-not-https",
    "draft-url-invalid",
    "draft-metadata-invalid",
    "draft-metadata-duplicate-key",
    "draft-metadata-reserved-key",
    "draft-metadata-too-large",
    "draft-url-credentials",
    "draft-metadata-too-deep",
)
"""Every code a ``DraftError`` can carry; amount fields also carry ``money.AMOUNT_ERROR_CODES``."""


class DraftError(ValueError):
    """One answer of the form was refused: which ``field``, why (``code``), with ``params``."""

    def __init__(self, field: str, code: str, **params: Any) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"DraftError({self.field!r}, {self.code!r}, **{self.params!r})"


# --- one field at a time -------------------------------------------------------------------


def clean_title(text: str) -> str:
    """One line of 1–100 characters (whitespace runs collapsed)."""
    title = " ".join(unicodedata.normalize("NFC", text).split())
    title = "".join(ch for ch in title if unicodedata.category(ch) != "Cc")
    if not title:
        raise DraftError("title", "draft-title-empty")
    if len(title) > TITLE_MAX:
        raise DraftError("title", "draft-title-too-long", max=TITLE_MAX, length=len(title))
    return title


def clean_currency(text: str) -> str:
    """An ISO 4217 code in use; aliases such as ``frw`` or ``$`` are accepted."""
    if not text.strip():
        raise DraftError("currency", "draft-currency-missing")
    code = money.normalize_currency(text)
    if not money.is_known_currency(code):
        raise DraftError("currency", "draft-currency-unknown", value=text.strip())
    return code


def clean_amount(
    text: str, currency: str, locale: str = money.DEFAULT_LOCALE, *, field: str = "amount"
) -> Decimal:
    """``money.parse_amount`` with its refusal reported as a ``DraftError`` of ``field``."""
    try:
        return money.parse_amount(text, currency, locale)
    except money.AmountError as exc:
        raise DraftError(field, exc.code, **exc.params) from None


def clean_payment_types(values: Iterable[str]) -> list[PaymentType]:
    """A non-empty set of known payment types, in the API's order."""
    chosen: set[PaymentType] = set()
    for value in values:
        try:
            chosen.add(PaymentType(value))
        except ValueError:
            raise DraftError(
                "payment_types", "draft-payment-type-unknown", value=str(value)
            ) from None
    if not chosen:
        raise DraftError("payment_types", "draft-payment-types-empty")
    return [kind for kind in ALL_PAYMENT_TYPES if kind in chosen]


def clean_description(text: str) -> str:
    """Free text (lines kept), at most 1000 characters."""
    description = unicodedata.normalize("NFC", text).strip()
    if not description:
        raise DraftError("description", "draft-description-empty")
    if len(description) > DESCRIPTION_MAX:
        raise DraftError(
            "description",
            "draft-description-too-long",
            max=DESCRIPTION_MAX,
            length=len(description),
        )
    return description


_SLUG_RE = re.compile(rf"[a-z0-9-]{{{SLUG_MIN},{SLUG_MAX}}}")


def clean_slug(text: str) -> str:
    """3–64 characters of ``a-z``, ``0-9`` and ``-`` (upper case is folded)."""
    slug = text.strip().lower()
    if not _SLUG_RE.fullmatch(slug):
        raise DraftError("slug", "draft-slug-invalid", min=SLUG_MIN, max=SLUG_MAX)
    return slug


# Letters that Unicode decomposition does not reduce to ASCII.
_TRANSLITERATE = str.maketrans(
    {
        "œ": "oe",
        "Œ": "oe",
        "æ": "ae",
        "Æ": "ae",
        "ß": "ss",
        "ø": "o",
        "Ø": "o",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "ł": "l",
        "Ł": "l",
        "þ": "th",
        "Þ": "th",
    }
)


def suggest_slug(title: str) -> str:
    """A valid slug from a title: accents folded, lower case, ``-`` between words."""
    folded = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
    ascii_text = folded.encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug[:SLUG_MAX]
        # Prefer ending on a whole word when one fits.
        if slug[SLUG_MAX] != "-" and "-" in cut and len(cut.rsplit("-", 1)[0]) >= SLUG_MIN:
            cut = cut.rsplit("-", 1)[0]
        slug = cut.strip("-")
    if len(slug) < SLUG_MIN:
        slug = f"{slug}-link" if slug else "link"
    return slug


_HOST_LABEL = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?")


def _is_https_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        return False
    host = parts.hostname or ""
    labels = host.split(".")
    return (
        parts.scheme.lower() == "https"
        and len(labels) >= 2
        and all(_HOST_LABEL.fullmatch(label) for label in labels)
    )


def clean_https_url(text: str, field: str = "redirect_url") -> str:
    """An absolute ``https://`` URL with a dotted host name, and no user or password in it
    (``https://user:pw@host`` would show them to every payer)."""
    url = text.strip()
    if not url or len(url) > URL_MAX or any(ch.isspace() for ch in url):
        raise DraftError(field, "draft-url-invalid")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        if "@" in parts.netloc:
            raise DraftError(field, "draft-url-credentials")
        if not _is_https_url(url):
            raise DraftError(field, "draft-url-invalid")
        return url
    if not scheme or "." in scheme:
        # ``example.com/pay``: a real address that only lacks its scheme.
        code = "draft-url-not-https" if _is_https_url(f"https://{url}") else "draft-url-invalid"
        raise DraftError(field, code)
    raise DraftError(field, "draft-url-not-https")


_GROUPED_INT = re.compile(r"\d{1,3}(?:[ ,.]\d{3})+|\d+")


def parse_max_uses(text: str) -> int:
    """A whole number of payments, at least 1 (``1 000`` and ``1,000`` are read too)."""
    cleaned = " ".join(unicodedata.normalize("NFKC", text).split()).lstrip("+")
    if not _GROUPED_INT.fullmatch(cleaned):
        raise DraftError("max_uses", "draft-max-uses-invalid", max=MAX_USES_MAX)
    value = int(re.sub(r"[ ,.]", "", cleaned))
    if not 1 <= value <= MAX_USES_MAX:
        raise DraftError("max_uses", "draft-max-uses-invalid", max=MAX_USES_MAX)
    return value


_DATE_YMD = r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
_DATE_DMY = r"(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})"
_TIME = (
    r"(?:[ T]|, ?)(?P<H>\d{1,2})"
    r"(?::(?P<M>\d{2})(?::(?P<S>\d{2}))?|[hH](?P<HM>\d{2})?)"
)
_EXPIRY_RES = tuple(re.compile(f"{date}(?:{_TIME})?") for date in (_DATE_YMD, _DATE_DMY))


def parse_expiry(text: str, now: datetime) -> datetime:
    """An expiry in Kigali time, after ``now``.

    Dates: ``2026-12-31``, ``31/12/2026``, ``31.12.2026``, ``31-12-2026``; an optional time
    ``18:00``, ``18:00:30`` or ``18h``/``18h30`` after a space. A date alone means the end of
    that day (23:59:59).
    """
    cleaned = " ".join(unicodedata.normalize("NFKC", text).split())
    for pattern in _EXPIRY_RES:
        match = pattern.fullmatch(cleaned)
        if match is not None:
            break
    else:
        raise DraftError("expires_at", "draft-expiry-unparsed")
    try:
        if match["H"] is None:
            at = time(23, 59, 59)
        else:
            minute = match["M"] or match["HM"] or "0"
            at = time(int(match["H"]), int(minute), int(match["S"] or 0))
        day = datetime(int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=KIGALI)
    except ValueError:
        raise DraftError("expires_at", "draft-expiry-unparsed") from None
    expires = datetime.combine(day.date(), at, tzinfo=KIGALI)
    if now.tzinfo is None:
        now = now.replace(tzinfo=KIGALI)
    if expires <= now:
        raise DraftError("expires_at", "draft-expiry-past")
    return expires


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DraftError("metadata", "draft-metadata-duplicate-key", key=key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; the provider would refuse them.
    raise DraftError("metadata", "draft-metadata-invalid")


def _nested_deeper_than(source: str, limit: int) -> bool:
    """Whether JSON text opens more than ``limit`` objects or lists inside each other; read
    before parsing, so that no depth reaches the parser's recursion."""
    depth = 0
    in_string = escaped = False
    for ch in source:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse_metadata(text: str, client_ref_key: str = CLIENT_REF_KEY) -> dict[str, Any]:
    """A JSON object, or ``key=value`` lines (values kept as strings).

    Keys must be non-empty and unique; the client's own reference key is reserved; at most
    ``METADATA_MAX_DEPTH`` levels; the result must fit the provider's 4 KiB with room left
    for the client's reference.
    """
    source = text.strip()
    if not source:
        raise DraftError("metadata", "draft-metadata-invalid")
    if source.startswith(("{", "[", '"')):
        if _nested_deeper_than(source, METADATA_MAX_DEPTH):
            raise DraftError("metadata", "draft-metadata-too-deep", max=METADATA_MAX_DEPTH)
        try:
            parsed = json.loads(
                source, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant
            )
        except json.JSONDecodeError as exc:
            raise DraftError("metadata", "draft-metadata-invalid", line=exc.lineno) from None
        if not isinstance(parsed, dict):
            raise DraftError("metadata", "draft-metadata-invalid")
        metadata: dict[str, Any] = parsed
    else:
        metadata = {}
        for number, raw in enumerate(source.splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not key:
                raise DraftError("metadata", "draft-metadata-invalid", line=number)
            if key in metadata:
                raise DraftError("metadata", "draft-metadata-duplicate-key", key=key)
            metadata[key] = value.strip()
    check_metadata(metadata, client_ref_key)
    return metadata


def check_metadata(metadata: dict[str, Any], client_ref_key: str = CLIENT_REF_KEY) -> None:
    """Keys non-empty, the client's reference key not used, size within the vendor's share."""
    if any(not str(key).strip() for key in metadata):
        raise DraftError("metadata", "draft-metadata-invalid")
    if client_ref_key in metadata:
        raise DraftError("metadata", "draft-metadata-reserved-key", key=client_ref_key)
    size = metadata_size(metadata)
    if size > METADATA_USER_MAX_BYTES:
        raise DraftError(
            "metadata", "draft-metadata-too-large", max=METADATA_USER_MAX_BYTES, size=size
        )


def _checked(field: str, value: Decimal, currency: str) -> Decimal:
    try:
        return money.check_amount(value, currency)
    except money.AmountError as exc:
        raise DraftError(field, exc.code, **exc.params) from None


def check_amounts(draft: LinkDraft) -> dict[str, Decimal]:
    """The kind's amount rules; returns the amounts to send, keyed by API field.

    fixed: ``amount`` required, no range. flexible: no ``amount``; ``min_amount`` ≤
    ``max_amount`` when both are given. Every amount is positive, at most 10^12 and within
    the currency's minor units.
    """
    if draft.kind is None:
        raise DraftError("kind", "draft-kind-missing")
    if not draft.currency:
        raise DraftError("currency", "draft-currency-missing")
    currency = clean_currency(draft.currency)
    amounts: dict[str, Decimal] = {}
    if draft.kind is AmountType.FIXED:
        if draft.amount is None:
            raise DraftError("amount", "draft-amount-missing")
        for field in ("min_amount", "max_amount"):
            if getattr(draft, field) is not None:
                raise DraftError(field, "draft-range-not-allowed")
        amounts["amount"] = _checked("amount", draft.amount, currency)
    else:
        if draft.amount is not None:
            raise DraftError("amount", "draft-amount-not-allowed")
        for field in ("min_amount", "max_amount"):
            value = getattr(draft, field)
            if value is not None:
                amounts[field] = _checked(field, value, currency)
        low, high = amounts.get("min_amount"), amounts.get("max_amount")
        if low is not None and high is not None and low > high:
            raise DraftError("max_amount", "draft-min-over-max", min=low, max=high)
    if draft.goal is not None:
        _checked("goal", draft.goal, currency)
    return amounts
