"""The demo in a real browser: headless Chromium on a 360 px phone screen, driven by Playwright.

The demo runs in-process through ``run_demo`` (what ``paylinks-bot demo`` runs) on a free port.
Chromium opens the chat page, and everything a person does goes through the page: typing,
pressing inline buttons, the card's **Open** button (a new tab with the sandbox's payer page),
paying there, and reading the alert that comes back. Any request the browser makes to anything
but the demo fails the test. Screenshots of each step go to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from bot.devtools.demo import MEMBER, OWNER, Demo, run_demo
from bot.devtools.demo.world import DEMO_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE_WIDTH, PHONE_HEIGHT = 360, 740
WAIT_MS = 15_000

if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
    pytest.skip(
        f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)",
        allow_module_level=True,
    )
if importlib.util.find_spec("playwright") is None:
    pytest.skip(
        "playwright is missing: pip install playwright (the dev extra)", allow_module_level=True
    )

from playwright.async_api import (  # noqa: E402 (after the skip: the module may be missing)
    Browser,
    BrowserContext,
    Locator,
    Page,
    Route,
    async_playwright,
    expect,
)


def module_missing(name: str, attribute: str | None = None) -> bool:
    """Whether ``name`` (and ``attribute`` in it) is absent from this checkout, at run time."""
    if importlib.util.find_spec(name) is None:
        return True
    return attribute is not None and not hasattr(importlib.import_module(name), attribute)


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    stop = asyncio.Event()
    ready: asyncio.Future[Demo] = asyncio.get_running_loop().create_future()
    lines: list[str] = []

    async def on_ready(running: Demo) -> None:
        ready.set_result(running)

    task = asyncio.create_task(
        run_demo(
            port=0,
            data_dir=tmp_path / "data",
            stop=stop,
            on_ready=on_ready,
            out=lines.append,
            settings_overrides={"log_level": "WARNING"},
        )
    )
    waiting: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
        raise AssertionError("the demo stopped while starting")
    assert ready in done, "the demo did not start within 60 s"
    running = ready.result()
    assert any(running.url in line for line in lines), lines
    try:
        yield running
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=40)


class Phone:
    """A browser context the size of a phone, refusing every address but the demo's."""

    def __init__(self, browser: Browser, demo: Demo, shots: Path) -> None:
        self.browser = browser
        self.demo = demo
        self.shots = shots
        self.outside: list[str] = []
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self._shot = 0

    async def open(self) -> Page:
        self.context = await self.browser.new_context(
            viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="en-US",
        )
        own = urlsplit(self.demo.url).netloc

        async def guard(route: Route) -> None:
            url = route.request.url
            if urlsplit(url).netloc == own or url.startswith(("data:", "blob:")):
                await route.continue_()
            else:
                self.outside.append(url)
                await route.abort()

        await self.context.route("**/*", guard)
        self.page = await self.context.new_page()
        await self.page.goto(self.demo.url)
        await expect(self.page.locator("#chat-name")).to_have_text("PayLinks", timeout=WAIT_MS)
        return self.page

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()

    async def shot(self, name: str, page: Page | None = None) -> Path:
        self._shot += 1
        path = self.shots / f"{self._shot:02d}-{name}.png"
        await (page or self.p).screenshot(path=str(path))
        return path

    @property
    def p(self) -> Page:
        assert self.page is not None
        return self.page

    def bot_rows(self) -> Locator:
        return self.p.locator("#messages .row.in")

    async def send(self, text: str) -> None:
        await self.p.locator("#input").fill(text)
        await self.p.locator("#input").press("Enter")
        await expect(self.p.locator("#messages .row.out").last).to_contain_text(
            text.splitlines()[0], timeout=WAIT_MS
        )

    async def bot_says(self, pattern: str | re.Pattern[str]) -> Locator:
        """The latest bot message matching ``pattern``, once it is on the screen."""
        row = self.bot_rows().filter(has_text=pattern).last
        await expect(row).to_be_visible(timeout=WAIT_MS)
        return row

    def button(self, label: str) -> Locator:
        return self.p.locator("#messages .kb-btn").filter(
            has_text=re.compile("^" + re.escape(label))
        )

    async def tap(self, label: str) -> None:
        """Press the newest inline button whose label starts with ``label``."""
        button = self.button(label).last
        await expect(button).to_be_visible(timeout=WAIT_MS)
        await button.click()

    async def switch_to(self, tab: str) -> None:
        await self.p.locator(f"#tab-{tab}").click()
        await expect(self.p.locator(f"#tab-{tab}")).to_have_attribute("aria-selected", "true")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def phone(browser: Browser, demo: Demo, tmp_path: Path) -> AsyncIterator[Phone]:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    device = Phone(browser, demo, shots)
    try:
        await device.open()
        yield device
    finally:
        await device.close()
    assert not device.outside, f"the page tried to reach the outside: {device.outside}"


async def pay_in_new_tab(phone: Phone, open_label: str) -> Page:
    """Press the card's URL button; pay on the payer page it opens; return that tab."""
    assert phone.context is not None
    async with phone.context.expect_page() as opened:
        await phone.tap(open_label)
    payer = await opened.value
    await payer.wait_for_load_state()
    assert urlsplit(payer.url).path.startswith("/generation/pay/"), payer.url
    await phone.shot("payer-page", payer)
    if await payer.locator("#amount").count():
        await payer.locator("#amount").fill("260000")  # a flexible link: the payer chooses
    await payer.locator("button.success").click()
    await payer.wait_for_load_state()
    await expect(payer.locator("h1")).to_be_visible()
    await phone.shot("payer-paid", payer)
    return payer


async def test_private_chat_create_a_link_pay_it_and_see_the_alert(
    demo: Demo, phone: Phone
) -> None:
    page = phone.p
    await phone.shot("empty-chat")

    await phone.send("/start")
    await phone.bot_says("Aline")
    await phone.shot("start")

    # The step-by-step form, by buttons and typing (labels as in tests/e2e/test_create.py).
    await phone.send("/new")
    await phone.tap("Fixed amount")
    await phone.send("Invoice #123")
    await phone.tap("RWF")
    await phone.send("50,000")
    summary = await phone.bot_says("Invoice #123")
    await expect(summary).to_contain_text("50,000")
    # The form's steps edit their message in place: the page replaced it and marks it edited.
    edited = page.locator("#messages .row.in .meta").filter(has_text="edited")
    await expect(edited.first).to_be_visible()
    ids = await page.locator("#messages .row").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert len(ids) == len(set(ids)), f"a message is shown twice: {ids}"
    # The bot's Telegram HTML is rendered: its bold is a <b> element, not visible markup.
    await expect(summary.locator(".text b").first).to_be_visible()
    await expect(summary).not_to_contain_text("<b>")
    await phone.shot("summary")
    await phone.tap("✅ Create link")

    # The QR card: a photo the browser really loaded, with an Open button to the payer page.
    card = phone.bot_rows().filter(has=page.locator("img.photo")).last
    await expect(card).to_be_visible(timeout=WAIT_MS)
    await expect(card).to_contain_text("Invoice #123")
    await expect(card.locator(".kb-btn").filter(has_text="Open")).to_be_visible()
    loaded = await card.locator("img.photo").evaluate("img => img.complete && img.naturalWidth")
    assert loaded and loaded > 100, "the QR card image did not load"
    await phone.shot("qr-card")

    bot_messages_before = await phone.bot_rows().count()
    payer = await pay_in_new_tab(phone, "🔗 Open")
    await expect(payer.locator("body")).to_contain_text("50,000")
    await payer.close()

    if module_missing("bot.notify", "start_notifier"):
        pytest.skip("bot.notify (the payment notifier, issue 4) is not in this checkout yet")
    # The alert: a new bot message about this link, within the 2 s poll and the page's 0.5 s.
    alert = phone.bot_rows().nth(bot_messages_before)
    await expect(alert).to_contain_text("Invoice #123", timeout=WAIT_MS)
    await expect(alert).to_contain_text("50,000")
    await phone.shot("alert")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH


async def test_text_stays_text_documents_download_and_the_language_switches(
    demo: Demo, phone: Phone, tmp_path: Path
) -> None:
    page = phone.p
    typed = '<b>not bold</b> <img src=x onerror="document.title=1">'
    await phone.send(typed)
    mine = page.locator("#messages .row.out").last
    await expect(mine.locator(".text")).to_contain_text(typed)
    assert await mine.locator("b, img").count() == 0

    # A CSV the bot sends (as the export does) is shown as a file and downloads as one.
    async with httpx.AsyncClient(timeout=10) as client:
        sent = await client.post(
            f"{demo.api.base_url}{DEMO_TOKEN}/sendDocument",
            data={"chat_id": str(OWNER.id)},
            files={"document": ("payments.csv", b"id,amount\n1,500\n", "text/csv")},
        )
    assert sent.json()["ok"], sent.text
    doc = page.locator("#messages a.doc").last
    await expect(doc).to_contain_text("payments.csv", timeout=WAIT_MS)
    async with page.expect_download() as downloading:
        await doc.click()
    download = await downloading.value
    assert download.suggested_filename == "payments.csv"
    saved = tmp_path / "downloaded.csv"
    await download.save_as(saved)
    assert saved.read_bytes() == b"id,amount\n1,500\n"
    await phone.shot("document")

    english = await page.locator("#banner").inner_text()
    await page.locator("#language").select_option("fr")
    french = demo.catalogues.translator("fr")("demo-banner")
    await expect(page.locator("#banner")).to_have_text(french)
    assert french != english
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await phone.shot("french")


async def test_the_group_is_a_chat_of_its_own_with_a_member_who_is_not_an_admin(
    demo: Demo, phone: Phone
) -> None:
    page = phone.p
    await phone.switch_to("group")
    await expect(page.locator("#chat-name")).to_have_text(demo.group.title)
    # The demo person added the bot to the group when the demo started.
    await expect(page.locator("#messages .service").first).to_contain_text("added PayLinks")
    await phone.shot("group")

    # The member who is not an admin writes from their own phone: the admin's page shows it
    # as someone else's message, with their name.
    await page.locator("#person").select_option(str(MEMBER.id))
    await phone.send("Good morning, parish")
    await page.locator("#person").select_option(str(OWNER.id))
    others = page.locator("#messages .row.in").filter(has_text="Good morning, parish")
    await expect(others.locator(".author")).to_have_text("Jean")
    await phone.shot("group-member-message")


async def test_a_donation_drive_in_the_group_updates_its_card_when_paid(
    demo: Demo, phone: Phone
) -> None:
    page = phone.p
    await phone.switch_to("group")
    await phone.send("/drive")
    # The form opens in the admin's private chat through a t.me deep link.
    await phone.bot_says(re.compile("set up the drive in private"))
    await phone.button("📝 Open the form").last.click()
    await expect(page.locator("#tab-private")).to_have_attribute("aria-selected", "true")
    await phone.bot_says(re.compile("For the group"))
    await phone.shot("drive-form")
    await phone.send("Church roof")
    await phone.bot_says(re.compile("Which currency"))
    await phone.tap("RWF")
    await phone.bot_says(re.compile("What is the goal"))
    await phone.send("500,000")
    await phone.bot_says(re.compile("Suggested amounts"))
    await phone.tap("Skip")
    await phone.bot_says(re.compile("Check your link"))
    await phone.tap("✅ Create link")
    await phone.bot_says(re.compile("posted in the group"))

    await phone.switch_to("group")
    drive_card = phone.bot_rows().filter(has=page.locator("img.photo")).last
    await expect(drive_card).to_contain_text("Church roof", timeout=WAIT_MS)
    await expect(drive_card).to_contain_text("0%")
    await phone.shot("drive-card")
    payer = await pay_in_new_tab(phone, drive_card_open_label(await drive_card_labels(phone)))
    await payer.close()
    # One poll (2 s in the demo) plus the card's 10 s edit throttle.
    await expect(drive_card).to_contain_text("52%", timeout=2 * WAIT_MS)
    await phone.shot("drive-card-updated")


async def drive_card_labels(phone: Phone) -> list[str]:
    card = phone.bot_rows().filter(has=phone.p.locator("img.photo")).last
    labels: list[Any] = await card.locator(".kb-btn").all_inner_texts()
    return [str(label) for label in labels]


def drive_card_open_label(labels: list[str]) -> str:
    """The drive card's URL button (issue 6 calls it **Open to give**)."""
    for label in labels:
        if "↗" in label:
            return label.replace("↗", "").strip()
    raise AssertionError(f"no URL button on the drive card: {labels}")
