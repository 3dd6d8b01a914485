"""One word per idea (issue 18): the catalogues use the terms of ``locales/GLOSSARY.md``.

For each glossary term, every message whose English text uses the English term uses the
language's term, and the synonyms the glossary rules out appear nowhere.

The rules are written here rather than parsed from the glossary's table: its cells are prose
for a translator ("hagarika / subizaho ubutumwa", "ubwishyu (to pay: kwishyura)"), while a
test needs what a message may contain once the word is inflected (Kinyarwanda and Swahili
nouns and verbs take prefixes and suffixes: ``telefone``, ``bwahagaritswe``, ``viungo``).
So each rule names its glossary row and the word that row must hold, and
``test_every_rule_is_the_glossarys`` fails when the table and the rules drift apart.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.i18n_leaks import catalogue

GLOSSARY = Path(__file__).resolve().parents[2] / "locales" / "GLOSSARY.md"
LANGUAGES = ("rw", "fr", "sw")


@dataclass(frozen=True)
class Term:
    """A glossary row as a rule.

    ``english`` is a pattern on the English message; ``used`` maps a language to a pattern its
    message must then match (a stem, so that inflected forms count); ``row`` is the glossary
    row's English cell and ``words`` what that row's cell holds for each language."""

    name: str
    english: str
    used: dict[str, str]
    row: str
    words: dict[str, str]
    exempt: dict[str, set[str]] = field(default_factory=dict)


# Patterns are matched ignoring case; ``(?-i:...)`` makes a part case-sensitive.
TERMS = (
    Term(
        "payment",
        r"\bpayments?\b",
        {"rw": r"ishyu", "fr": r"paiement", "sw": r"malipo"},
        "payment",
        {"rw": "ubwishyu", "fr": "paiement", "sw": "malipo"},
        # "Wakiriye {amount}" (you received {amount}): the amount says it was a payment.
        exempt={"rw": {"alert-payment"}},
    ),
    Term(
        "mute",
        r"\bmuted?\b",
        {"rw": r"hagar[ik]", "fr": r"\bcoup", "sw": r"\bzim|zimw"},
        "mute / unmute alerts",
        {"rw": "hagarika", "fr": "couper", "sw": "zima"},
    ),
    Term(
        "unmute",
        r"\bunmute",
        {"rw": r"subiz|subij", "fr": r"réactiv", "sw": r"wash"},
        "mute / unmute alerts",
        {"rw": "subizaho", "fr": "réactiver", "sw": "washa"},
    ),
    Term(
        "cancel",
        r"\bcancel",
        {"rw": r"hagar[ik]", "fr": r"annul", "sw": r"ghairi"},
        "cancel",
        {"rw": "hagarika", "fr": "annuler", "sw": "ghairi"},
    ),
    Term(
        "phone",
        r"\bphones?\b",
        {"rw": r"(?-i:[Tt]elefone)", "fr": r"téléphone", "sw": r"\bsimu\b"},
        "phone",
        {"rw": "telefone", "fr": "téléphone", "sw": "simu"},
    ),
    Term(
        "phone number",
        r"\bphone number",
        {"rw": r"(?-i:[Nn]omero ya telefone)", "fr": r"numéro de téléphone", "sw": r"namba"},
        "phone",
        {"rw": "nomero ya telefone", "fr": "numéro de téléphone", "sw": "namba ya simu"},
    ),
    Term(
        "mobile money",
        r"\bmobile money\b",
        {"rw": r"(?-i:Mobile Money)", "fr": r"mobile money", "sw": r"pesa kwa simu"},
        "mobile money",
        {"rw": "Mobile Money", "fr": "mobile money", "sw": "pesa kwa simu"},
        # "Wanaolipa kwa simu" (those who pay by phone): see "payer" below.
        exempt={"sw": {"alert-failed-retry-mobile-money"}},
    ),
    Term(
        "sandbox",
        r"\bsandbox\b",
        {"rw": r"igerageza", "fr": r"(?-i:[Mm]ode test)", "sw": r"majaribio"},
        "sandbox (test mode)",
        {"rw": "igerageza", "fr": "mode test", "sw": "majaribio"},
        # The demo page's banner is read by the person running the demo, and says what a
        # sandbox payment is ("des paiements simulés") rather than naming the mode.
        exempt={"fr": {"demo-banner"}},
    ),
    Term(
        "export",
        r"\bexport",
        {"rw": r"kuramo", "fr": r"export", "sw": r"pakua"},
        "export (a file)",
        {"rw": "gukuramo", "fr": "exporter", "sw": "pakua"},
        # The progress lines speak of the file being made ("Dosiye yawe iracyategurwa",
        # "Ninaandaa faili"): the export's word is on the button and the empty answer.
        exempt={
            "rw": {"export-progress", "export-running", "export-done"},
            "sw": {"export-progress", "export-running", "export-done"},
        },
    ),
    Term(
        "failed",
        r"\bfailed\b",
        {"rw": r"anze\b|(?:ntib|ta)\w*kunze", "fr": r"échou|échec|refus", "sw": r"fanikiw"},
        "paid / pending / failed (a payment)",
        {"rw": "bwanze", "fr": "échoué", "sw": "hayakufanikiwa"},
    ),
    Term(
        "pending",
        r"\bpending\b",
        {"rw": r"tegere[jz]", "fr": r"en attente", "sw": r"subiri"},
        "paid / pending / failed (a payment)",
        {"rw": "butegerejwe", "fr": "en attente", "sw": "yanasubiri"},
    ),
    Term(
        "max payments",
        r"\bmax payments\b",
        {"fr": r"paiements max", "sw": r"idadi ya malipo"},
        "most payments a link takes",
        {"fr": "paiements max", "sw": "idadi ya malipo"},
    ),
    Term(
        "duplicate",
        r"\bduplicat",
        {"rw": r"kopi", "fr": r"dupliqu|copie", "sw": r"nakil|nakala"},
        "copy (duplicate a link)",
        {"rw": "kopi", "fr": "dupliquer", "sw": "nakili"},
    ),
    Term(
        "connect",
        r"\bconnect(?:ed|ing)?\b",
        {"rw": r"hu[zj]", "fr": r"connect|reli", "sw": r"unganish"},
        "connect (an account)",
        {"rw": "guhuza", "fr": "connecter", "sw": "unganisha"},
    ),
    Term(
        "alert",
        r"\balerts?\b",
        {"rw": r"ubutumwa|menyesh", "fr": r"alerte", "sw": r"arifa"},
        "alert (payment alert)",
        {"rw": "ubutumwa", "fr": "alerte", "sw": "arifa"},
        # The card's mute switch is a half-row button (16 characters): "🔕 Couper les
        # alertes" and "🔕 Hagarika ubutumwa" do not fit, and the bell says "alerts".
        exempt={
            "rw": {"card-mute", "card-unmute"},
            "fr": {"card-mute", "card-unmute"},
        },
    ),
    Term(
        "payer",
        r"\bpayers?\b",
        {"rw": r"wishyura|bishyura", "fr": r"payeur", "sw": r"lipaji"},
        "payer",
        {"rw": "uwishyura", "fr": "payeur", "sw": "mlipaji"},
        # "Wanaolipa kwa simu" (those who pay by phone) says "mobile money payers" in three
        # words where "walipaji wa pesa kwa simu" would take six.
        exempt={"sw": {"alert-failed-retry-mobile-money"}},
    ),
    Term(
        "customer",
        r"\bcustomers?\b",
        {"rw": r"kiriya", "fr": r"client", "sw": r"\b(?:m|wa)teja"},
        "customer",
        {"rw": "umukiriya", "fr": "client", "sw": "mteja"},
    ),
    Term(
        "goal",
        r"\bgoal\b",
        {"rw": r"intego", "fr": r"objectif", "sw": r"lengo"},
        "goal",
        {"rw": "intego", "fr": "objectif", "sw": "lengo"},
    ),
    Term(
        "donor",
        r"\b(?:donor|giver)s?\b",
        {"rw": r"terankunga", "fr": r"donat(?:eur|rice)", "sw": r"changiaji"},
        "donor, giver",
        {"rw": "umuterankunga", "fr": "donateur", "sw": "mchangiaji"},
    ),
    Term(
        "account",
        r"\baccounts?\b",
        {"rw": r"konti", "fr": r"compte", "sw": r"akaunti"},
        "account",
        {"rw": "konti", "fr": "compte", "sw": "akaunti"},
    ),
    Term(
        "Kigali time",
        r"\bKigali time\b",
        {"rw": r"isaha y'i Kigali", "fr": r"heure de Kigali", "sw": r"saa za Kigali"},
        "Kigali time",
        {"rw": "isaha y'i Kigali", "fr": "heure de Kigali", "sw": "saa za Kigali"},
    ),
)


@dataclass(frozen=True)
class Banned:
    """A word the glossary rules out, everywhere or where the English says ``only_where``."""

    language: str
    pattern: str
    why: str
    only_where: str = ""


BANNED = (
    Banned("sw", r"\bnyamazish", "mute is zima arifa"),
    Banned("fr", r"\bsourdine", "mute is couper les alertes"),
    Banned("rw", r"\breka\b", "cancel is hagarika (reka is 'let us' elsewhere)", r"\bcancel"),
    Banned("sw", r"\b(?:ku)?hamisha\b", "export is pakua: kuhamisha is moving money"),
    Banned("fr", r"bac à sable", "a payer never reads a developer word: mode test"),
    Banned("rw", r"telefoni|terefone|terefoni", "phone is spelled telefone, as Irembo does"),
    Banned("rw", r"\b[nN][iu]mero\b", "number is spelled nomero, as Irembo does"),
    Banned("rw", r"(?-i:mobile money|Mobile money|mobile Money)", "Mobile Money, as MTN"),
    Banned("sw", r"\bimelipwa\b", "statuses agree with malipo: yamefanikiwa"),
    Banned("sw", r"\binasubiri\b", "statuses agree with malipo: yanasubiri"),
    Banned("sw", r"\bimeshindwa\b", "statuses agree with malipo: hayakufanikiwa"),
    Banned("sw", r"faulu", "one verb for success: fanikiwa"),
    Banned("sw", r"shindw|shindik", "one verb for failure: hayakufanikiwa"),
    Banned("sw", r"malipo ya juu", "reads as 'high payments': idadi ya malipo"),
    Banned("sw", r"umesahaulika", "'you are forgotten': the key is removed, umeondolewa"),
    Banned("rw", r"\bkora indi\b", "a copy is kopi (Kora kopi), as 'Kopi ya link' says"),
    Banned("rw", r"subira inyuma", "Back is Subira: a half-row button", r"^\W*back\W*$"),
    Banned("rw", r"\bbyakunze\b", "connected is byahujwe (huza), not 'it worked'", r"connected"),
    # French is written, not spoken, on what a payer reads.
    Banned("fr", r"c'est pour quoi", "spoken: À quoi correspond ce paiement ?"),
    Banned("fr", r"paiement échoué", "a title: Échec du paiement"),
    Banned("fr", r"paiements fermés", "a payer reads Paiement impossible"),
)

# Placeholders, commands (/cancel is a command in every language), addresses and tags are not
# words of the message.
_NOT_WORDS = re.compile(r"\{\w+\}|(?<!\w)/[a-z]\w*|https?://\S+|<[^>]+>")


def _text(message: tuple[str, ...]) -> str:
    return " ".join(html.unescape(_NOT_WORDS.sub(" ", form)) for form in message)


def _forms(message: tuple[str, ...]) -> list[str]:
    return [html.unescape(_NOT_WORDS.sub(" ", form)) for form in message]


def _glossary_rows() -> dict[str, dict[str, str]]:
    """The table: English cell -> {language: cell}, columns read from the header row."""
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not columns:
            columns = [re.sub(r".*\((\w+)\)", r"\1", cell) for cell in cells]
            continue
        rows[cells[0]] = dict(zip(columns[1:], cells[1:], strict=True))
    return rows


def test_every_rule_is_the_glossarys() -> None:
    """Each rule's words are those of its glossary row, so that changing the glossary fails
    here until the rules follow it."""
    rows = _glossary_rows()
    assert len(rows) > 30, "the table was not read"
    wrong = []
    for term in TERMS:
        row = rows.get(term.row)
        if row is None:
            wrong.append(f"{term.name}: no glossary row {term.row!r}")
            continue
        for language, word in term.words.items():
            if word not in row[language]:
                wrong.append(
                    f"{term.name}: {word!r} is not in the {language} cell {row[language]!r}"
                )
            if not re.search(term.used[language], word, re.I):
                wrong.append(f"{term.name}: the {language} pattern misses the glossary's {word!r}")
    assert not wrong, "\n".join(wrong)


def test_the_rules_see_the_catalogue() -> None:
    """No rule is a no-op: each English pattern finds messages, and each exemption is a key
    that exists and whose English uses the term."""
    english = catalogue("en")
    idle = [
        term.name
        for term in TERMS
        if not any(re.search(term.english, _text(message), re.I) for message in english.values())
    ]
    assert not idle
    stale = [
        (term.name, key)
        for term in TERMS
        for keys in term.exempt.values()
        for key in keys
        if key not in english or not re.search(term.english, _text(english[key]), re.I)
    ]
    assert not stale


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_glossary_term_is_used_where_english_uses_it(language: str) -> None:
    english = catalogue("en")
    messages = catalogue(language)
    missing = []
    for term in TERMS:
        if language not in term.used:
            continue
        for key, source in english.items():
            if key in term.exempt.get(language, set()):
                continue
            if not re.search(term.english, _text(source), re.I):
                continue
            for form in _forms(messages[key]):
                if not re.search(term.used[language], form, re.I):
                    missing.append(f"{term.name}: {key}: {form!r}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_banned_synonym_is_used(language: str) -> None:
    english = catalogue("en")
    found = []
    for rule in BANNED:
        if rule.language != language:
            continue
        for key, message in catalogue(language).items():
            if rule.only_where and not re.search(rule.only_where, _text(english[key]), re.I):
                continue
            for form in _forms(message):
                if re.search(rule.pattern, form, re.I):
                    found.append(f"{key}: {form!r} ({rule.why})")
    assert not found, "\n".join(found)
