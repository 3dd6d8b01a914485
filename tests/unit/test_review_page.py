"""The review page (issue 18): every message of a language as a vendor reads it, for native
reviewers. The page is read back as a browser would (``html.parser``), never by string slicing
of our own template, so a message missing, a placeholder left as ``{name}`` or a raw tag from
sample text fails here."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.config import LANGUAGES
from bot.devtools.review_page import PLURAL_COUNTS, key_strings, render_page, telegram_html
from bot.i18n import Catalogues

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "locales"


def msgids(language: str) -> list[str]:
    with (LOCALES / language / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return [m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id]


class Page(HTMLParser):
    """The page as a browser sees it: each message's section, and the rendered texts in it."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.order: list[str] = []  # data-msgid of every section, in page order
        self.rendered: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, list[str]] = defaultdict(list)
        self.classes: dict[str, set[str]] = defaultdict(set)
        self.tags: list[str] = []
        self._section: str | None = None
        self._depth = 0  # open elements inside the current rendered block
        self._buffer: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "section" and found.get("data-msgid"):
            self._section = found["data-msgid"]
            self.order.append(str(self._section))
            self.classes[str(self._section)] |= set(str(found.get("class", "")).split())
        if self._depth:
            self._depth += 1
        elif "rendered" in str(found.get("class", "")).split() and self._section:
            self._depth = 1
            self._buffer = []
            if found.get("data-count") is not None:
                self.counts[self._section].append(str(found["data-count"]))

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1
            if not self._depth and self._section:
                self.rendered[self._section].append("".join(self._buffer))
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._buffer.append(data)


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {language: render_page(language) for language in LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_language_is_on_its_page(
    pages: dict[str, str], language: str
) -> None:
    page = Page(pages[language])
    expected = msgids(language)
    assert expected, "the catalogue read back empty"
    assert set(page.order) == set(expected)
    # Each message once (the key strings first), so a reviewer never corrects one twice.
    assert len(page.order) == len(expected)
    assert all(page.rendered[key] for key in expected)
    assert f'lang="{language}"' in pages[language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_rendered_text_is_the_languages_own(pages: dict[str, str], language: str) -> None:
    """Messages without placeholders or tags read exactly as the catalogue has them."""
    catalogues = Catalogues.load()
    translations = catalogues.by_language[language]
    page = Page(pages[language])
    checked = 0
    for key in msgids(language):
        text = translations.gettext(key)
        if "{" in text or "<" in text or key in page.counts:
            continue
        assert page.rendered[key] == [html.unescape(text)], key
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_placeholder_is_left_unfilled(pages: dict[str, str], language: str) -> None:
    page = Page(pages[language])
    unfilled = [
        (key, text) for key, texts in page.rendered.items() for text in texts if "{" in text
    ]
    assert not unfilled


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_messages_are_shown_at_each_count(pages: dict[str, str], language: str) -> None:
    catalogues = Catalogues.load()
    tr = catalogues.translator(language)
    page = Page(pages[language])
    assert PLURAL_COUNTS == (0, 1, 2, 1_000_000)
    plural_keys = [key for key in msgids("en") if key in ("card-paid", "drive-donors")]
    assert plural_keys == ["card-paid", "drive-donors"]
    for key in plural_keys:
        assert page.counts[key] == [str(n) for n in PLURAL_COUNTS]
        assert page.rendered[key] == [html.unescape(tr.plural(key, n)) for n in PLURAL_COUNTS]
    # Every plural message, not only the two read closely above.
    with (LOCALES / "en" / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        plurals = [m.id[0] for m in read_po(handle, locale="en") if isinstance(m.id, tuple)]
    assert len(plurals) > 20
    assert all(page.counts[key] == [str(n) for n in PLURAL_COUNTS] for key in plurals)


def test_sample_values_are_real_formatting() -> None:
    """Amounts through the bot's money formatting, dates through its date formatter."""
    from datetime import datetime
    from decimal import Decimal

    from bot.dates import format_when
    from bot.dgs.models import KIGALI
    from bot.money import format_amount

    for language in ("rw", "fr"):
        page = Page(render_page(language))
        amount = format_amount(Decimal(5000), "RWF", language)
        assert any(amount in text for text in page.rendered["alert-payment"])
        assert any("Samosa" in text for text in page.rendered["alert-payment"])
        when = format_when(datetime(2026, 12, 31, 18, 0, tzinfo=KIGALI), language)
        assert any(when in text for text in page.rendered["form-expiry-set"])
        assert any("Aline" in text for text in page.rendered["welcome"])


def test_user_looking_sample_text_is_escaped() -> None:
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    text = render_page("sw", samples={"title": hostile, "name": hostile})
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    page = Page(text)
    assert "script" not in page.tags
    # The catalogue's own <b> around {title} stays bold; the <b> typed by the "vendor" does not.
    assert any(hostile in t for t in page.rendered["alert-payment"])
    assert any(hostile in t for t in page.rendered["welcome"])


def test_default_samples_with_an_ampersand_are_escaped_too() -> None:
    text = render_page("en")
    assert "Samosa &amp; chai" in text
    assert "Samosa & chai" not in text


def test_only_telegrams_tags_survive() -> None:
    assert telegram_html("<b>a</b> <i>b</i> <code>c</code>") == (
        "<b>a</b> <i>b</i> <code>c</code>"
    )
    assert telegram_html('<a href="https://pay.dgs/x">pay</a>') == (
        '<a href="https://pay.dgs/x">pay</a>'
    )
    assert telegram_html("<u>x</u><img src=x onerror=1>") == (
        "&lt;u&gt;x&lt;/u&gt;&lt;img src=x onerror=1&gt;"
    )
    assert "javascript" not in telegram_html('<a href="javascript:alert(1)">x</a>').split(">")[0]
    # Telegram's entities are shown as the characters they stand for, escaped once for the page.
    assert telegram_html("Tom &amp; Jerry &lt;3") == "Tom &amp; Jerry &lt;3"
    # Line breaks stay line breaks (the page shows them with white-space: pre-wrap).
    assert telegram_html("line\nnext") == "line\nnext"


def test_the_key_strings_of_review_md_exist_and_come_first(pages: dict[str, str]) -> None:
    review = (LOCALES / "REVIEW.md").read_text(encoding="utf-8")
    listed = key_strings(LOCALES / "REVIEW.md")
    keys = [key for key, _ in listed]
    assert len(keys) == 30
    assert len(set(keys)) == 30
    assert all(why.strip() for _, why in listed)
    missing = sorted(set(keys) - set(msgids("en")))
    assert not missing, f"REVIEW.md names msgids the catalogue lacks: {missing}"
    # The test reads the file itself too: each msgid is written there in backticks.
    assert all(f"`{key}`" in review for key in keys)
    for language in LANGUAGES:
        page = Page(pages[language])
        assert page.order[:30] == keys
        assert all("key" in page.classes[key] for key in keys)
        assert not any("key" in page.classes[key] for key in page.order[30:])


def test_every_msgid_review_md_names_exists() -> None:
    """The open questions quote messages by msgid too: none may go stale."""
    review = (LOCALES / "REVIEW.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9]+(?:-[a-z0-9_]+)+)`", review))
    assert len(named) > 40
    assert not sorted(named - set(msgids("en")))


def test_a_renamed_key_string_breaks_the_list(tmp_path: Path) -> None:
    review = (LOCALES / "REVIEW.md").read_text(encoding="utf-8")
    first = key_strings(LOCALES / "REVIEW.md")[0][0]
    renamed = tmp_path / "REVIEW.md"
    renamed.write_text(review.replace(f"`{first}`", "`no-such-message`"), encoding="utf-8")
    keys = [key for key, _ in key_strings(renamed)]
    assert "no-such-message" in keys
    assert "no-such-message" not in msgids("en")


@pytest.mark.parametrize("language", LANGUAGES)
def test_buttons_are_drawn_at_phone_width_with_their_budget(
    pages: dict[str, str], language: str
) -> None:
    page = Page(pages[language])
    for key in ("button-new-link", "card-mute", "dash-filter-all", "form-kind-flexible"):
        assert "button" in page.classes[key], key
    assert "button" not in page.classes["welcome"]
    assert "360px" in pages[language]
    # The budget is written beside each button: "12 / 30" style, from the real label width.
    from bot.button_labels import width

    tr = Catalogues.load().translator(language)
    label = tr.plain("button-new-link")
    section = pages[language].split('data-msgid="button-new-link"', 1)[1].split("</section>")[0]
    assert re.search(rf"\b{width(label)} / (16|30)\b", section)


def test_the_page_is_self_contained(pages: dict[str, str]) -> None:
    for text in pages.values():
        page = Page(text)
        assert "script" not in page.tags
        assert "link" not in page.tags
        assert "img" not in page.tags
        assert "@import" not in text
        assert not re.search(r"url\(", text)
        assert "<style>" in text
