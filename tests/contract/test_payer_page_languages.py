"""The sandbox payer page in the payer's language: chosen by ``?lang=``, else the browser."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.devtools.sandbox import Sandbox
from tests.i18n_leaks import catalogue, leaks, markers

from .conftest import KEY, MakeLink, decode

pytestmark = pytest.mark.asyncio(loop_scope="module")

KIGALI = ZoneInfo("Africa/Kigali")
NBSP, NNBSP = "\xa0", "\u202f"
LANGUAGE_NAMES = {"rw": "Ikinyarwanda", "en": "English", "fr": "Français", "sw": "Kiswahili"}
PAYER_KEYS = [key for key in catalogue("en") if key.startswith("payer-")] + [
    "method-card",
    "method-mobile_money",
    "method-bank_transfer",
    "amount-too-precise",
    "amount-too-precise-none",
    "amount-not-positive",
    "amount-currency-mismatch",
]
# 5000 RWF as each language writes it (CLDR), and the same on the page.
FIVE_THOUSAND_RWF = {
    "en": f"RWF{NBSP}5,000",
    "fr": f"5{NNBSP}000{NBSP}RWF",
    "rw": f"RF{NBSP}5.000",
    "sw": f"RWF{NBSP}5,000",
}
FIVE_USD = {
    "en": "$5.00",
    "fr": f"5,00{NBSP}$US",
    "rw": f"US${NBSP}5,00",
    "sw": f"US${NBSP}5.00",
}
# A title with no words of any language in it.
TITLE = "N° 4471-B"


def visible_text(page: str) -> str:
    """What a person reads: the page without its style, tags and entities."""
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.DOTALL)
    labels = " ".join(re.findall(r'aria-label="([^"]*)"', page))
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + labels)


def in_future(seconds: int) -> str:
    return (datetime.now(KIGALI) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


async def every_page(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink, language: str
) -> list[httpx.Response]:
    """Each page a payer can meet, asked for in ``language``."""
    lang = {"lang": language}
    fixed = await make_link(
        title=TITLE,
        payment_types=["card", "mobile_money", "ussd", "bank_transfer"],
        collect_name=True,
        collect_phone=True,
        collect_address=True,
        redirect_url="https://shop.example/merci",
    )
    between = await make_link(
        title=TITLE,
        amount_type="flexible",
        amount=None,
        currency="USD",
        min_amount=5,
        max_amount=50,
    )
    above = await make_link(
        title=TITLE, amount_type="flexible", amount=None, currency="RWF", min_amount=500
    )
    below = await make_link(
        title=TITLE, amount_type="flexible", amount=None, currency="RWF", max_amount=500
    )
    archived = await make_link(title=TITLE)
    await client.delete(f"/payment-links/{archived['id']}")
    completed = await make_link(title=TITLE, max_uses=1)
    await sandbox.add_charge(KEY, completed["id"], 5000)
    pages = []
    async with httpx.AsyncClient(params=lang) as browser:
        for link in (fixed, between, above, below, archived, completed):
            pages.append(await browser.get(link["url"]))
        for outcome in ("success", "pending", "failed"):
            pages.append(
                await browser.post(fixed["url"], data={"payment_type": "card", "outcome": outcome})
            )
        for amount in ("", "abc", "4,999", "1.005", "-6", "60", "€10"):
            pages.append(
                await browser.post(
                    between["url"],
                    data={"amount": amount, "payment_type": "card", "outcome": "success"},
                )
            )
        pages.append(await browser.post(above["url"], data={"amount": "100", "outcome": "x"}))
        pages.append(await browser.post(below["url"], data={"amount": "9000"}))
        pages.append(await browser.post(below["url"], data={"amount": "0,5", "outcome": "x"}))
        pages.append(
            await browser.post(fixed["url"], data={"payment_type": "cash", "outcome": "success"})
        )
        pages.append(await browser.post(fixed["url"], data={"payment_type": "card"}))
        pages.append(await browser.get(f"{sandbox.url}/generation/pay/no-such-link"))
    expired = await make_link(title=TITLE, expires_at=in_future(30))
    await sandbox.advance_clock(31)
    async with httpx.AsyncClient(params=lang) as browser:
        pages.append(await browser.get(expired["url"]))
    return pages


@pytest.mark.parametrize("language", ["rw", "fr", "sw"])
async def test_every_payer_page_is_in_the_asked_language_with_no_english_left(
    sandbox: Sandbox, client: httpx.AsyncClient, make_link: MakeLink, language: str
) -> None:
    english = markers(PAYER_KEYS, target=language)
    assert len(english) > 40  # the check has teeth: most English words are markers

    pages = await every_page(sandbox, client, make_link, language)

    statuses = [page.status_code for page in pages]
    assert statuses == [200] * 4 + [410, 410] + [200] * 3 + [422] * 12 + [404, 410]
    for page in pages:
        assert f'<html lang="{language}">' in page.text
        text = visible_text(page.text)
        assert not leaks([text], english), (page.request.url, leaks([text], english))
    fixed, between = pages[0].text, pages[1].text
    assert FIVE_THOUSAND_RWF[language] in fixed
    # Every catalogue text the form and its results use was shown at least once.
    shown = " ".join(visible_text(page.text) for page in pages)
    translated = catalogue(language)
    for key in ("payer-name", "payer-phone", "payer-address", "payer-simulate", "payer-footer"):
        assert translated[key][0] in shown, key
    assert FIVE_USD[language] in between


@pytest.mark.parametrize(
    ("query", "accept", "language"),
    [
        ({}, None, "en"),
        ({}, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ({}, "de-DE, sw;q=0.5, en;q=0.4", "sw"),
        ({}, "en;q=0.2, rw;q=0.9", "rw"),
        ({}, "rw;q=0, de", "en"),
        ({"lang": "rw"}, "fr", "rw"),
        ({"lang": "sw-KE"}, None, "sw"),
        ({"lang": "xx"}, "fr-CA", "fr"),
    ],
)
async def test_the_language_is_asked_else_the_browsers_else_english(
    make_link: MakeLink, query: dict[str, str], accept: str | None, language: str
) -> None:
    link = await make_link(title=TITLE)
    headers = {"Accept-Language": accept} if accept else {}
    async with httpx.AsyncClient() as browser:
        page = await browser.get(link["url"], params=query, headers=headers)

    assert f'<html lang="{language}">' in page.text
    assert FIVE_THOUSAND_RWF[language] in page.text
    assert catalogue(language)["payer-simulate"][0] in html.unescape(page.text)


async def test_the_switcher_offers_the_other_languages_each_in_its_own_name(
    make_link: MakeLink,
) -> None:
    link = await make_link(title=TITLE)
    async with httpx.AsyncClient() as browser:
        page = (await browser.get(link["url"], params={"lang": "sw"})).text
        targets = re.findall(r'<a href="(\?lang=\w+)"[^>]*>([^<]+)</a>', page)
        followed = [(await browser.get(link["url"] + href)).text for href, _name in targets]

    assert [(href, name) for href, name in targets] == [
        ("?lang=rw", "Ikinyarwanda"),
        ("?lang=en", "English"),
        ("?lang=fr", "Français"),
    ]
    assert re.search(r'<strong aria-current="true" lang="sw">Kiswahili</strong>', page)
    assert [re.search(r'<html lang="(\w+)">', text)[1] for text in followed] == [  # type: ignore[index]
        "rw",
        "en",
        "fr",
    ]


@pytest.mark.parametrize(
    ("language", "typed", "paid"),
    [
        ("fr", "1.500", "1500.00"),  # a dot groups thousands in French
        ("en", "1.500", "1.50"),
        ("fr", "12,30", "12.30"),  # a comma is the decimal sign
        ("rw", "1.250,75", "1250.75"),
        ("sw", "1,250.75", "1250.75"),
    ],
)
async def test_the_payer_types_the_amount_the_way_their_language_writes_it(
    client: httpx.AsyncClient, make_link: MakeLink, language: str, typed: str, paid: str
) -> None:
    link = await make_link(
        title=TITLE, amount_type="flexible", amount=None, currency="USD", max_amount=2000
    )
    async with httpx.AsyncClient() as browser:
        response = await browser.post(
            link["url"],
            params={"lang": language},
            data={"amount": typed, "payment_type": "card", "outcome": "success"},
        )

    assert response.status_code == 200, visible_text(response.text)
    details: dict[str, Any] = decode(await client.get(f"/payment-links/{link['id']}"))
    assert [charge["amount"] for charge in details["recent_charges"]] == [paid]
    assert details["stats"]["total_collected"] == Decimal(paid)
    # The result page keeps the language, back link included.
    assert f'<html lang="{language}">' in response.text
    assert f"?lang={language}" in response.text
