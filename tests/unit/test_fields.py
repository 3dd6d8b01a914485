"""bot.fields: one spec per field the provider lets a vendor set, held to the provider's page.

The registry is what the form, the editor, the summary, the card and the 422 lines loop over,
so a field the contract names and the registry lacks would be a field nobody can set; these
tests read the contract and the page themselves rather than a copy of their lists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.config import LANGUAGES
from bot.dgs.models import LinkCreate
from bot.fields import FIELDS, FieldSpec, editor_fields
from handlers.create import create_conversation

API_DOCS = Path(__file__).resolve().parents[3] / "shared" / "dgs-api"
LOCALES = Path(__file__).resolve().parents[2] / "locales"

# Fields of a link the provider sets itself: a vendor never sends them.
PROVIDER_SET = {"id", "url", "use_count", "status", "created_at"}


def contract_link_fields() -> set[str]:
    """The link object's fields as ``CONTRACT.md`` lists them (its "link:" bullet)."""
    text = (API_DOCS / "CONTRACT.md").read_text()
    match = re.search(r"^- link: (.*?)(?=^- )", text, re.MULTILINE | re.DOTALL)
    assert match is not None, "CONTRACT.md has no '- link:' bullet"
    return set(re.findall(r"`([a-z_]+)`", match.group(1)))


def page_create_fields() -> dict[str, str]:
    """The create call's table on the provider's page: field -> Required / Optional / …"""
    rows = re.findall(
        r"^([a-z_]+) \| (Required|Optional|If fixed) \|",
        (API_DOCS / "payment-links.txt").read_text(),
        re.MULTILINE,
    )
    assert rows, "the page's create table was not found"
    return dict(rows)


def test_the_registry_holds_every_field_of_the_contract_a_vendor_sets() -> None:
    contract = contract_link_fields()
    assert contract >= PROVIDER_SET
    assert set(FIELDS) == contract - PROVIDER_SET


def test_the_registry_is_the_create_table_of_the_providers_page() -> None:
    table = page_create_fields()
    assert set(FIELDS) == set(table)
    required = {name for name, rule in table.items() if rule == "Required"}
    assert {name for name, spec in FIELDS.items() if spec.required} == required


def test_the_registry_is_what_the_client_sends() -> None:
    assert set(FIELDS) == set(LinkCreate.model_fields)


def _keys(spec: FieldSpec) -> set[str]:
    keys = {spec.empty, spec.clear_label}
    keys |= {
        key
        for key in (spec.label, spec.refusal_label, spec.summary, spec.prompt, spec.option_label)
        if key is not None
    }
    if spec.option_empty is not None:
        keys.add(spec.option_empty)
    if spec.menu is not None and spec.parse is not None:
        keys.add(spec.ask)  # the editor asks for a typed value
    return keys


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_a_spec_names_is_in_the_catalogue(language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "bot.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    present = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    named = set().union(*(_keys(spec) for spec in FIELDS.values()))
    assert named - present == set()


def test_each_field_is_asked_by_a_step_of_the_form_or_its_options() -> None:
    states = set(create_conversation().states)
    for spec in FIELDS.values():
        if spec.toggle:
            assert spec.option is not None, spec.name  # toggled on More options
        else:
            assert spec.step in states, spec.name


def test_the_editor_changes_every_field_but_the_kind_and_currency() -> None:
    # A link's kind and currency are chosen once: the provider's amounts depend on them.
    editable = {spec.name for spec in editor_fields()}
    assert editable == set(FIELDS) - {"amount_type", "currency"}
    for spec in editor_fields():
        assert spec.patch is not None, spec.name
        assert spec.label is not None, spec.name
        assert spec.parse is not None or spec.toggle or spec.name == "payment_types", spec.name


def test_a_copy_of_a_link_is_made_field_by_field_from_the_registry() -> None:
    """Duplicate and Edit fill a draft through each spec: every answer of the form is one."""
    from bot.links import LinkDraft

    # The retry reference and a drive's goal are the bot's, not fields of the provider.
    answers = set(LinkDraft.model_fields) - {"client_ref", "goal"}
    assert {spec.attr for spec in FIELDS.values()} == answers


def test_the_link_card_shows_its_fields_from_the_registry() -> None:
    """The card's field lines come from the specs, in their card order."""
    from datetime import datetime, timedelta

    from bot.dashboard import card_text
    from bot.dgs.models import KIGALI, Link, LinkDetails
    from bot.fields import card_fields
    from bot.i18n import Catalogues

    tr = Catalogues.load().translator("en")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=KIGALI)
    link = Link.model_validate(
        {
            "id": "l1",
            "title": "Rent",
            "amount_type": "fixed",
            "amount": "5000",
            "currency": "RWF",
            "payment_types": ["card"],
            "max_uses": 3,
            "use_count": 1,
            "expires_at": (now + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S"),
            "status": "active",
        }
    )
    text = card_text(LinkDetails(link=link, stats={"currency": "RWF"}), tr, now=now)
    lines = [spec.card(link, tr, now) for spec in card_fields() if spec.card is not None]
    assert [spec.name for spec in card_fields()] == [
        "amount",
        "max_uses",
        "expires_at",
        "payment_types",
    ]
    positions = [text.index(line) for line in lines if line]
    assert len(positions) == 4 and positions == sorted(positions)
    assert "RWF\xa05,000" in lines[0] and "1 / 3" in lines[1] and "card" in lines[3]
