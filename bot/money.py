"""Parse and format money amounts per currency and locale (Decimal, Babel).

The bot speaks four languages (``en``, ``fr``, ``rw``, ``sw``); each maps to the Babel
locale of the same code, whose separators decide how typed amounts are read.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.numbers import (
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
    get_territory_currencies,
)

BOT_LOCALES: tuple[str, ...] = ("en", "fr", "rw", "sw")
DEFAULT_LOCALE = "en"
MAX_AMOUNT = Decimal(10) ** 12

AMOUNT_ERROR_CODES: tuple[str, ...] = (
    "amount-not-a-number",
    "amount-not-positive",
    "amount-too-precise",
    "amount-currency-mismatch",
    "amount-too-large",
)

# Longer input is never a sane amount; the cap also keeps Decimal away from huge strings.
_MAX_INPUT_CHARS = 100

# Spellings vendors type that Babel's symbols for our locales do not cover.
_EXTRA_ALIASES: dict[str, str] = {
    "FRW": "RWF",
    "RF": "RWF",
    "R₣": "RWF",
    "FRWS": "RWF",
    "KSH": "KES",
    "KSHS": "KES",
    "TSH": "TZS",
    "TSHS": "TZS",
    "USH": "UGX",
    "USHS": "UGX",
    "US$": "USD",
    "$US": "USD",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
}

_MULTIPLIERS: dict[str, Decimal] = {"k": Decimal(1000), "m": Decimal(1_000_000)}
_MINUS_SIGNS = "-\u2212\u2012\u2013\uff0d"
# East African shorthand for "whole shillings": 50,000/= or 50,000/-.
_WHOLE_SUFFIXES = ("/=", "/-")

_AMOUNT_RE = re.compile(r"(?P<pre>\D*?)(?P<num>[.,]?\d(?:[\d., ]*\d)?)(?P<post>\D*)")


class AmountError(ValueError):
    """A typed amount was refused; ``code`` is an i18n message key, ``params`` its values."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"AmountError({self.code!r}, **{self.params!r})"


@lru_cache(maxsize=32)
def babel_locale(code: str) -> Locale:
    """The Babel locale for one of our language codes; unknown codes fall back to English."""
    try:
        return Locale.parse(code.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


@lru_cache(maxsize=1)
def _iso_currencies() -> frozenset[str]:
    """Currencies that are legal tender somewhere today, per CLDR.

    Babel's full list also holds withdrawn codes (FRF, ZWD…) and non-currencies (XXX, XTS),
    which a vendor should not be able to pick.
    """
    today = date.today()  # noqa: DTZ011 - which currencies are tender is a calendar-day fact
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(codes)


def _alias_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


@lru_cache(maxsize=1)
def _aliases() -> dict[str, frozenset[str]]:
    """Casefolded code, symbol or alias → the currencies it may name."""
    table: dict[str, set[str]] = {}
    for code in _iso_currencies():
        table.setdefault(_alias_key(code), set()).add(code)
        for loc in BOT_LOCALES:
            symbol = get_currency_symbol(code, locale=babel_locale(loc))
            table.setdefault(_alias_key(symbol), set()).add(code)
    for alias, code in _EXTRA_ALIASES.items():
        table.setdefault(_alias_key(alias), set()).add(code)
    return {key: frozenset(codes) for key, codes in table.items()}


def _resolve(token: str) -> frozenset[str]:
    return _aliases().get(_alias_key(token), frozenset())


def normalize_currency(code: str) -> str:
    """Upper-case ISO code for a code or an unambiguous alias (``frw`` → ``RWF``, ``$`` → ``USD``).

    Text that names no single currency comes back stripped and upper-cased, unchanged otherwise.
    """
    found = _resolve(code)
    if len(found) == 1:
        return next(iter(found))
    return code.strip().upper()


def is_known_currency(code: str) -> bool:
    """Whether the code (any case, or an unambiguous alias) is an ISO 4217 currency in use."""
    return normalize_currency(code) in _iso_currencies()


def currency_digits(code: str) -> int:
    """Minor-unit digits of the currency, as Babel (CLDR) gives them: RWF 0, USD 2."""
    digits: int = get_currency_precision(normalize_currency(code))
    return digits


def describe_separators(locale: str) -> tuple[str, str]:
    """(group, decimal) signs of the locale, to show the vendor how amounts are read."""
    loc = babel_locale(locale)
    return get_group_symbol(loc), get_decimal_symbol(loc)


def format_amount(amount: Decimal, currency: str, locale: str) -> str:
    """Localized amount with its currency, e.g. ``RWF50,000`` (en), ``50 000 RWF`` (fr).

    Never rounds: an amount with more decimals than the currency uses shows them all.
    """
    formatted: str = format_currency(
        amount,
        normalize_currency(currency),
        locale=babel_locale(locale),
        decimal_quantization=False,
    )
    # CLDR's currencySpacing rule, which Babel does not apply: a symbol made of letters is
    # kept apart from the digits (``RWF 50,000``, not ``RWF50,000``).
    return _CURRENCY_SPACING.sub("\\1\u00a0\\2", formatted)


_CURRENCY_SPACING = re.compile(r"([A-Za-z])(\d)|(?<=\d)(?=[A-Za-z])")


def format_plain(amount: Decimal, currency: str) -> str:
    """Plain decimal for CSV: the currency's digits (``50000``, ``25.50``), never rounded."""
    digits = max(currency_digits(currency), _decimals(amount))
    return f"{amount.quantize(Decimal(1).scaleb(-digits)):f}"


def check_amount(value: Decimal, currency: str) -> Decimal:
    """Validate an amount for a currency; return it without superfluous trailing zeros.

    Raises ``AmountError`` with ``amount-not-positive``, ``amount-too-large`` or
    ``amount-too-precise``.
    """
    if not value.is_finite():
        raise AmountError("amount-not-a-number")
    if value <= 0:
        raise AmountError("amount-not-positive")
    if value > MAX_AMOUNT:
        raise AmountError("amount-too-large", max=MAX_AMOUNT)
    code = normalize_currency(currency)
    digits = currency_digits(code)
    if _decimals(value) > digits:
        raise AmountError("amount-too-precise", currency=code, digits=digits)
    return _minimal(value)


def parse_amount(text: str, currency: str, locale: str = DEFAULT_LOCALE) -> Decimal:
    """Read an amount a vendor typed, for ``currency``, in the vendor's ``locale``.

    Accepted: ``50000``, ``50,000``, ``50 000`` (any space, NBSP included), ``50k``, ``1.5m``,
    a currency code, symbol or alias before or after (``RWF 50000``, ``50000rwf``, ``FRW 5000``,
    ``$25.50``, ``€10``), and ``50,000/=``. The value comes back exact, without trailing zeros.

    How ``.`` and ``,`` are read, in this order:

    1. Both appear: the last one is the decimal sign (it must appear once), the other groups.
    2. One of them appears more than once: it groups (``1.000.000``).
    3. One of them appears once and spaces also appear: spaces group, it is the decimal sign.
    4. One of them appears once, after 1–3 digits (no leading 0) and before exactly three
       digits: it groups if it is not the locale's decimal sign, or if the currency has no
       minor units and no ``k``/``m`` follows. So ``50.000`` is fifty thousand in ``fr`` and
       ``rw`` (decimal ``,``) and, for RWF, in ``en`` too; ``1.500`` USD in ``en`` is 1.5.
    5. Otherwise it is the decimal sign, whichever it is (``25,50`` is 25.5 in ``en``).

    Grouped digits must be well formed (1–3 digits, then groups of exactly three).

    Raises ``AmountError``: ``amount-not-a-number``, ``amount-currency-mismatch`` (given,
    expected), ``amount-not-positive``, ``amount-too-large`` (max) or ``amount-too-precise``
    (currency, digits).
    """
    expected = normalize_currency(currency)
    cleaned = _clean_text(text)
    if not cleaned or len(cleaned) > _MAX_INPUT_CHARS:
        raise AmountError("amount-not-a-number")
    match = _AMOUNT_RE.fullmatch(cleaned)
    if match is None:
        raise AmountError("amount-not-a-number")
    negative, prefix = _take_sign(match["pre"].strip())
    multiplier, suffix = _take_multiplier(match["post"].strip())
    for token in (prefix, suffix):
        if token:
            _check_currency_token(token, expected)
    value = _read_number(
        match["num"],
        babel_locale(locale),
        whole_only=currency_digits(expected) == 0 and multiplier is None,
    )
    if multiplier is not None:
        value *= multiplier
    if negative:
        value = -value
    return check_amount(value, expected)


def reads_two_ways(text: str, currency: str) -> bool:
    """Whether a typed amount means one thing where "," marks decimals and another where "."
    does (``1.500`` USD: 1.5 or 1 500); then, and only then, the vendor is told the rule."""
    readings: set[Decimal | None] = set()
    for locale in ("en", "fr"):  # "." decimal, "," decimal
        try:
            readings.add(parse_amount(text, currency, locale))
        except AmountError:
            readings.add(None)
    return len(readings) > 1


def _clean_text(text: str) -> str:
    # NFKC folds full-width digits and turns NBSP / narrow NBSP into plain spaces.
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join("-" if ch in _MINUS_SIGNS else ch for ch in folded)
    return " ".join(folded.split())


def _take_sign(prefix: str) -> tuple[bool, str]:
    """Split a leading or trailing sign off the text before the number (``-$``, ``$-``)."""
    negative = False
    if prefix[:1] in ("-", "+"):
        negative = prefix[0] == "-"
        prefix = prefix[1:].strip()
    elif prefix[-1:] in ("-", "+"):
        negative = prefix[-1] == "-"
        prefix = prefix[:-1].strip()
    if "-" in prefix or "+" in prefix:
        raise AmountError("amount-not-a-number")
    return negative, prefix


def _take_multiplier(suffix: str) -> tuple[Decimal | None, str]:
    """Split ``k``/``m`` and the East African ``/=`` off the text after the number."""
    for whole in _WHOLE_SUFFIXES:
        if suffix.endswith(whole):
            suffix = suffix[: -len(whole)].strip()
    if not suffix or _resolve(suffix):
        return None, suffix
    multiplier = _MULTIPLIERS.get(suffix[0].lower())
    if multiplier is None:
        raise AmountError("amount-not-a-number")
    return multiplier, suffix[1:].strip()


def _check_currency_token(token: str, expected: str) -> None:
    found = _resolve(token)
    if not found:
        raise AmountError("amount-not-a-number")
    if expected not in found:
        given = next(iter(found)) if len(found) == 1 else token
        raise AmountError("amount-currency-mismatch", given=given, expected=expected)


def _read_number(num: str, locale: Locale, *, whole_only: bool) -> Decimal:
    dots, commas = num.count("."), num.count(",")
    decimal_sign: str | None = None
    if dots and commas:
        decimal_sign = "." if num.rfind(".") > num.rfind(",") else ","
        if num.count(decimal_sign) != 1:
            raise AmountError("amount-not-a-number")
    elif dots == 1 or commas == 1:
        sign = "." if dots else ","
        before, after = num.split(sign)
        if " " in num:
            decimal_sign = sign
        elif _looks_grouped(before, after) and (sign != get_decimal_symbol(locale) or whole_only):
            decimal_sign = None
        else:
            decimal_sign = sign
    if decimal_sign is None:
        whole, fraction = num, ""
    else:
        whole, fraction = num.split(decimal_sign)
        if not fraction.isdigit():
            raise AmountError("amount-not-a-number")
    digits = _join_groups(whole)
    try:
        return Decimal(f"{digits or '0'}.{fraction or '0'}")
    except InvalidOperation:  # pragma: no cover - the pattern admits digits only
        raise AmountError("amount-not-a-number") from None


def _looks_grouped(before: str, after: str) -> bool:
    return len(after) == 3 and 1 <= len(before) <= 3 and not before.startswith("0")


def _join_groups(whole: str) -> str:
    groups = re.split(r"[., ]", whole)
    if len(groups) == 1:
        return whole
    head, *rest = groups
    if not (1 <= len(head) <= 3 and head.isdigit()) or any(
        len(group) != 3 or not group.isdigit() for group in rest
    ):
        raise AmountError("amount-not-a-number")
    return "".join(groups)


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only
    return max(0, -exponent)


def _minimal(value: Decimal) -> Decimal:
    """The same value with no trailing zeros and no exponent (``5E+4`` → ``50000``)."""
    normalized = value.normalize()
    return normalized.quantize(Decimal(1).scaleb(-_decimals(normalized)))
