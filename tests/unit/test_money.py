"""bot.money: reading what vendors type, and showing amounts the way their locale does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot import money
from bot.money import (
    AMOUNT_ERROR_CODES,
    AmountError,
    currency_digits,
    describe_separators,
    format_amount,
    format_plain,
    is_known_currency,
    normalize_currency,
    parse_amount,
)

NBSP, NNBSP = "\u00a0", "\u202f"
D = Decimal


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("RWF", 0),
        ("USD", 2),
        ("KES", 2),
        ("UGX", 0),
        ("TZS", 2),
        ("EUR", 2),
        ("KWD", 3),
        ("rwf", 0),
        ("frw", 0),
        (" usd ", 2),
    ],
)
def test_currency_digits(code: str, digits: int) -> None:
    assert currency_digits(code) == digits


@pytest.mark.parametrize(
    ("code", "known"),
    [
        ("RWF", True),
        ("rwf", True),
        (" Usd ", True),
        ("KES", True),
        ("UGX", True),
        ("TZS", True),
        ("EUR", True),
        ("FRW", True),  # the vendors' spelling of RWF
        ("XXX", False),  # "no currency"
        ("XTS", False),  # reserved for tests
        ("FRF", False),  # withdrawn French franc
        ("ABC", False),
        ("RWFX", False),
        ("", False),
    ],
)
def test_is_known_currency(code: str, known: bool) -> None:
    assert is_known_currency(code) is known


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("rwf", "RWF"),
        ("Frw", "RWF"),
        ("RF", "RWF"),
        ("$", "USD"),
        ("US$", "USD"),
        ("€", "EUR"),
        ("ksh", "KES"),
        ("TSh", "TZS"),
        (" xyz ", "XYZ"),
    ],
)
def test_normalize_currency(text: str, code: str) -> None:
    assert normalize_currency(text) == code


ACCEPTED = [
    # (text, currency, locale, value)
    ("50000", "RWF", "en", D(50000)),
    ("50,000", "RWF", "en", D(50000)),
    ("50 000", "RWF", "en", D(50000)),
    (f"50{NBSP}000", "RWF", "en", D(50000)),
    (f"50{NNBSP}000", "RWF", "fr", D(50000)),
    ("  50000  ", "RWF", "en", D(50000)),
    ("1,000,000", "RWF", "en", D(1_000_000)),
    ("1 000 000", "RWF", "fr", D(1_000_000)),
    ("50k", "RWF", "en", D(50000)),
    ("50K", "RWF", "en", D(50000)),
    ("50 k", "RWF", "en", D(50000)),
    ("2.5k", "RWF", "en", D(2500)),
    ("2,5k", "RWF", "fr", D(2500)),
    ("1.5m", "RWF", "en", D(1_500_000)),
    ("1.5M", "RWF", "en", D(1_500_000)),
    ("0.5k", "RWF", "en", D(500)),
    ("1.2345k", "USD", "en", D("1234.5")),
    ("50000 RWF", "RWF", "en", D(50000)),
    ("RWF 50000", "RWF", "en", D(50000)),
    ("50000rwf", "RWF", "en", D(50000)),
    ("RWF50,000", "RWF", "en", D(50000)),
    ("FRW 5000", "RWF", "en", D(5000)),
    ("Frw 5000", "RWF", "en", D(5000)),
    ("5000 Frw", "RWF", "rw", D(5000)),
    ("RF 5.000", "RWF", "rw", D(5000)),
    ("50k RWF", "RWF", "en", D(50000)),
    ("50krwf", "RWF", "en", D(50000)),
    ("$25.50", "USD", "en", D("25.50")),
    ("$ 25.50", "USD", "en", D("25.50")),
    ("25.50 USD", "USD", "en", D("25.50")),
    ("25.50 usd", "USD", "en", D("25.50")),
    ("US$ 25,50", "USD", "rw", D("25.50")),
    ("25,50 $US", "USD", "fr", D("25.50")),
    ("€10", "EUR", "en", D(10)),
    ("10 €", "EUR", "fr", D(10)),
    ("Ksh 1,500", "KES", "sw", D(1500)),
    ("50,000/=", "UGX", "en", D(50000)),
    ("50,000/-", "KES", "sw", D(50000)),
    ("+500", "RWF", "en", D(500)),
    ("0.5", "USD", "en", D("0.5")),
    (".5", "USD", "en", D("0.5")),
    ("１２３", "RWF", "en", D(123)),  # full-width digits from some keyboards
    ("500.00", "RWF", "en", D(500)),  # zeros beyond the currency's digits are harmless
    ("25.500", "USD", "en", D("25.5")),
    ("1,234.56", "USD", "en", D("1234.56")),
    ("1.234,56", "USD", "fr", D("1234.56")),
    ("1 234,56", "USD", "fr", D("1234.56")),
    ("1 234.56", "USD", "fr", D("1234.56")),  # spaces group, so the lone sign is decimal
    ("1000000000000", "RWF", "en", D(10) ** 12),
    ("1000000000000.00", "USD", "en", D(10) ** 12),
]


@pytest.mark.parametrize(("text", "currency", "locale", "value"), ACCEPTED)
def test_parse_accepts(text: str, currency: str, locale: str, value: Decimal) -> None:
    parsed = parse_amount(text, currency, locale)
    assert parsed == value
    assert isinstance(parsed, Decimal)


# The ambiguity rule, locale by locale: (text, currency) → value in en, fr, rw, sw.
AMBIGUOUS = [
    ("50.000", "RWF", {"en": 50000, "fr": 50000, "rw": 50000, "sw": 50000}),
    ("50,000", "RWF", {"en": 50000, "fr": 50000, "rw": 50000, "sw": 50000}),
    ("1.500", "USD", {"en": "1.5", "fr": 1500, "rw": 1500, "sw": "1.5"}),
    ("1,500", "USD", {"en": 1500, "fr": "1.5", "rw": "1.5", "sw": 1500}),
    ("50.5", "USD", {"en": "50.5", "fr": "50.5", "rw": "50.5", "sw": "50.5"}),
    ("50,5", "USD", {"en": "50.5", "fr": "50.5", "rw": "50.5", "sw": "50.5"}),
    ("25,50", "USD", {"en": "25.5", "fr": "25.5", "rw": "25.5", "sw": "25.5"}),
    ("1.500", "KWD", {"en": "1.5", "fr": 1500, "rw": 1500, "sw": "1.5"}),
    ("1.500k", "RWF", {"en": 1500, "fr": 1_500_000, "rw": 1_500_000, "sw": 1500}),
    ("1.000.000", "USD", {"en": 1_000_000, "fr": 1_000_000, "rw": 1_000_000, "sw": 1_000_000}),
    ("0,500", "KWD", {"en": "0.5", "fr": "0.5", "rw": "0.5", "sw": "0.5"}),
]


@pytest.mark.parametrize(("text", "currency", "by_locale"), AMBIGUOUS)
def test_separator_rule_per_locale(
    text: str, currency: str, by_locale: dict[str, int | str]
) -> None:
    for locale, expected in by_locale.items():
        assert parse_amount(text, currency, locale) == D(expected), locale


REFUSED = [
    # (text, currency, locale, code, params)
    ("", "RWF", "en", "amount-not-a-number", {}),
    ("   ", "RWF", "en", "amount-not-a-number", {}),
    ("abc", "RWF", "en", "amount-not-a-number", {}),
    ("fifty", "RWF", "en", "amount-not-a-number", {}),
    ("1e5", "RWF", "en", "amount-not-a-number", {}),
    ("50 apples", "RWF", "en", "amount-not-a-number", {}),
    ("50.", "USD", "en", "amount-not-a-number", {}),
    ("1.000.5", "RWF", "en", "amount-not-a-number", {}),
    ("1,00,000", "RWF", "en", "amount-not-a-number", {}),
    ("1.234.56,7.8", "USD", "en", "amount-not-a-number", {}),
    ("5 0000", "RWF", "en", "amount-not-a-number", {}),
    ("50 RWF 2", "RWF", "en", "amount-not-a-number", {}),
    ("--5", "RWF", "en", "amount-not-a-number", {}),
    ("5" * 101, "RWF", "en", "amount-not-a-number", {}),
    ("0", "RWF", "en", "amount-not-positive", {}),
    ("0.00", "USD", "en", "amount-not-positive", {}),
    ("-5", "RWF", "en", "amount-not-positive", {}),
    ("\u22125000", "RWF", "en", "amount-not-positive", {}),  # U+2212 minus sign
    ("-$5", "USD", "en", "amount-not-positive", {}),
    ("$-5", "USD", "en", "amount-not-positive", {}),
    ("500.5", "RWF", "en", "amount-too-precise", {"currency": "RWF", "digits": 0}),
    ("500,5", "RWF", "fr", "amount-too-precise", {"currency": "RWF", "digits": 0}),
    ("25.505", "USD", "en", "amount-too-precise", {"currency": "USD", "digits": 2}),
    ("25,505", "USD", "rw", "amount-too-precise", {"currency": "USD", "digits": 2}),
    ("1.0005k", "RWF", "en", "amount-too-precise", {"currency": "RWF", "digits": 0}),
    ("0.500", "RWF", "en", "amount-too-precise", {"currency": "RWF", "digits": 0}),
    ("50000 USD", "RWF", "en", "amount-currency-mismatch", {"given": "USD", "expected": "RWF"}),
    ("$50", "RWF", "en", "amount-currency-mismatch", {"given": "USD", "expected": "RWF"}),
    ("€10", "USD", "fr", "amount-currency-mismatch", {"given": "EUR", "expected": "USD"}),
    ("Ksh 100", "UGX", "sw", "amount-currency-mismatch", {"given": "KES", "expected": "UGX"}),
    ("5000 frw", "KES", "en", "amount-currency-mismatch", {"given": "RWF", "expected": "KES"}),
    # The whole suffix is read as a currency before k/m: "krw" is the Korean won.
    ("50krw", "RWF", "en", "amount-currency-mismatch", {"given": "KRW", "expected": "RWF"}),
    ("1000000000001", "RWF", "en", "amount-too-large", {"max": D(10) ** 12}),
    ("1000000000000.01", "USD", "en", "amount-too-large", {"max": D(10) ** 12}),
    ("2000000m", "RWF", "en", "amount-too-large", {"max": D(10) ** 12}),
]


@pytest.mark.parametrize(("text", "currency", "locale", "code", "params"), REFUSED)
def test_parse_refuses(
    text: str, currency: str, locale: str, code: str, params: dict[str, object]
) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(text, currency, locale)
    assert caught.value.code == code
    assert caught.value.params == params


def test_every_error_code_is_reachable() -> None:
    reached = {code for *_, code, _params in REFUSED}
    assert reached == set(AMOUNT_ERROR_CODES)


@pytest.mark.parametrize(
    ("text", "currency", "shown"),
    [
        ("500.00", "RWF", "500"),
        ("25.50", "USD", "25.5"),
        ("1.5k", "USD", "1500"),
        ("50k", "RWF", "50000"),
    ],
)
def test_parse_keeps_value_drops_trailing_zeros(text: str, currency: str, shown: str) -> None:
    assert str(parse_amount(text, currency)) == shown


@pytest.mark.parametrize("locale", money.BOT_LOCALES)
@pytest.mark.parametrize(
    ("currency", "amounts"),
    [
        ("RWF", ["1", "999", "1000", "50000", "1234567", "1000000000000"]),
        ("USD", ["0.01", "0.5", "25.50", "999.99", "1000", "1234.56", "999999999999.99"]),
        ("EUR", ["0.99", "10", "1500.05", "50000", "1234567.8"]),
        ("KES", ["1", "100.25", "1000.5", "250000"]),
    ],
)
def test_format_then_parse_round_trip(locale: str, currency: str, amounts: list[str]) -> None:
    for text in amounts:
        shown = format_amount(D(text), currency, locale)
        assert parse_amount(shown, currency, locale) == D(text), shown


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (D(50000), "RWF", "en", "RWF\u00a050,000"),  # CLDR currency spacing
        (D(50000), "RWF", "fr", f"50{NNBSP}000{NBSP}RWF"),
        (D(50000), "RWF", "rw", f"RF{NBSP}50.000"),
        (D(50000), "RWF", "sw", f"RWF{NBSP}50,000"),
        (D("25.5"), "USD", "en", "$25.50"),
        (D("25.5"), "USD", "fr", f"25,50{NBSP}$US"),
        (D(25), "USD", "en", "$25.00"),
        (D("500.00"), "RWF", "en", "RWF\u00a0500"),
        (D("25.505"), "USD", "en", "$25.505"),  # never rounded away
        (D(1500), "KES", "sw", f"Ksh{NBSP}1,500.00"),
    ],
)
def test_format_amount(amount: Decimal, currency: str, locale: str, shown: str) -> None:
    assert format_amount(amount, currency, locale) == shown


@pytest.mark.parametrize("locale", money.BOT_LOCALES)
def test_format_amount_shows_the_currency_digits(locale: str) -> None:
    _group, decimal = describe_separators(locale)
    assert decimal not in format_amount(D(50000), "RWF", locale)
    assert f"{decimal}00" in format_amount(D(50000), "USD", locale)
    assert f"{decimal}500" in format_amount(D("1.5"), "KWD", locale)


@pytest.mark.parametrize(
    ("amount", "currency", "plain"),
    [
        (D(50000), "RWF", "50000"),
        (D("5E+4"), "RWF", "50000"),
        (D("500.00"), "RWF", "500"),
        (D("25.5"), "USD", "25.50"),
        (D(25), "USD", "25.00"),
        (D("25.505"), "USD", "25.505"),
        (D("1.5"), "KWD", "1.500"),
        (D(10) ** 12, "USD", "1000000000000.00"),
    ],
)
def test_format_plain(amount: Decimal, currency: str, plain: str) -> None:
    assert format_plain(amount, currency) == plain


def test_describe_separators() -> None:
    assert describe_separators("en") == (",", ".")
    assert describe_separators("sw") == (",", ".")
    assert describe_separators("rw") == (".", ",")
    group, decimal = describe_separators("fr")
    assert decimal == ","
    assert group.isspace()  # a narrow no-break space in current CLDR


def test_unknown_locale_falls_back_to_english() -> None:
    assert describe_separators("xx-nope") == describe_separators("en")
    assert parse_amount("1.500", "USD", "xx-nope") == D("1.5")


@pytest.mark.parametrize(
    ("value", "currency", "code"),
    [
        (D(0), "RWF", "amount-not-positive"),
        (D(-1), "USD", "amount-not-positive"),
        (D("NaN"), "USD", "amount-not-a-number"),
        (D("0.5"), "RWF", "amount-too-precise"),
        (D("0.001"), "USD", "amount-too-precise"),
        (D(10) ** 13, "RWF", "amount-too-large"),
    ],
)
def test_check_amount_refuses(value: Decimal, currency: str, code: str) -> None:
    with pytest.raises(AmountError) as caught:
        money.check_amount(value, currency)
    assert caught.value.code == code


# Each of the bot's languages × the four currencies vendors here use: 1 500 as the language
# writes it (CLDR: its symbol, its separators, the currency's digits).
ONE_THOUSAND_FIVE_HUNDRED = {
    "en": {
        "RWF": f"RWF{NBSP}1,500",
        "USD": "$1,500.00",
        "EUR": "€1,500.00",
        "KES": f"KES{NBSP}1,500.00",
    },
    "fr": {
        "RWF": f"1{NNBSP}500{NBSP}RWF",
        "USD": f"1{NNBSP}500,00{NBSP}$US",
        "EUR": f"1{NNBSP}500,00{NBSP}€",
        "KES": f"1{NNBSP}500,00{NBSP}KES",
    },
    "rw": {
        "RWF": f"RF{NBSP}1.500",
        "USD": f"US${NBSP}1.500,00",
        "EUR": f"€{NBSP}1.500,00",
        "KES": f"KES{NBSP}1.500,00",
    },
    "sw": {
        "RWF": f"RWF{NBSP}1,500",
        "USD": f"US${NBSP}1,500.00",
        "EUR": f"€{NBSP}1,500.00",
        "KES": f"Ksh{NBSP}1,500.00",
    },
}


@pytest.mark.parametrize("locale", ["en", "fr", "rw", "sw"])
@pytest.mark.parametrize("currency", ["RWF", "USD", "EUR", "KES"])
def test_each_language_writes_each_currency_its_way(locale: str, currency: str) -> None:
    shown = ONE_THOUSAND_FIVE_HUNDRED[locale][currency]
    assert format_amount(D(1500), currency, locale) == shown
    assert parse_amount(shown, currency, locale) == D(1500)


# What a vendor types, per language: its own separators (a plain space where the language
# groups with a no-break one), with or without the currency, with k.
TYPED = {
    "en": [("50,000", D(50000)), ("1,250.75", D("1250.75")), ("25.5", D("25.5"))],
    "sw": [("50,000", D(50000)), ("1,250.75", D("1250.75")), ("25.5", D("25.5"))],
    "fr": [
        ("50 000", D(50000)),
        ("50.000", D(50000)),
        ("1 250,75", D("1250.75")),
        ("25,5", D("25.5")),
    ],
    "rw": [("50.000", D(50000)), ("1.250,75", D("1250.75")), ("25,5", D("25.5"))],
}


@pytest.mark.parametrize("locale", ["en", "fr", "rw", "sw"])
@pytest.mark.parametrize("currency", ["RWF", "USD", "EUR", "KES"])
def test_each_language_reads_amounts_typed_its_way(locale: str, currency: str) -> None:
    for text, value in TYPED[locale]:
        if value != value.to_integral_value() and currency_digits(currency) == 0:
            with pytest.raises(AmountError) as refused:  # RWF has no cents
                parse_amount(text, currency, locale)
            assert refused.value.code == "amount-too-precise"
            continue
        assert parse_amount(text, currency, locale) == value, text
        assert parse_amount(f"{text} {currency}", currency, locale) == value, text
        assert parse_amount(f"{currency} {text}", currency, locale) == value, text
    assert parse_amount("50k", currency, locale) == D(50000)
