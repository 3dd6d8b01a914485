"""Every button's callback data starts with a prefix registered here, and nowhere else.

A handler's pattern is ``^<prefix>``; tests/unit/test_callbacks.py checks that no prefix is
the start of another (a press would reach the wrong handler) and that every callback handler
of the Application listens on a registered one.

Data that names a link is a short prefix plus the provider's link id (a UUID: 36 bytes), well
inside Telegram's 64-byte limit whatever the title. Every press is re-authorised by the
handler: the presser must own what it acts on (or administer its group).
"""

from __future__ import annotations

# prefix → what its buttons do (filled by the definitions below, in this order)
PREFIXES: dict[str, str] = {}


def _prefix(prefix: str, what: str) -> str:
    if prefix in PREFIXES:
        raise ValueError(f"callback prefix {prefix!r} registered twice")
    PREFIXES[prefix] = what
    return prefix


# Buttons that act on a link, shared by the dashboard and the alert sender.
LINK_CARD = _prefix("lk:", "show the link card (dashboard)")
EXTEND = _prefix("lx:", "extend expiry by 7 days")
REOPEN = _prefix("lr:", "raise max uses")
DUPLICATE = _prefix("ld:", "a new form prefilled from this link")
MUTE = _prefix("lm:", "mute / unmute alerts of this link")

# The dashboard (handlers/link_card.py, links.py, archive.py, export.py).
LIST = _prefix("dl:", "a page of the link list")
QR = _prefix("dq:", "the link's QR card")
EDIT = _prefix("de:", "the editor's menu")
ARCHIVE = _prefix("da:", "archive: asks to confirm")
ARCHIVE_CONFIRM = _prefix("dy:", "archive: confirmed")
CHART = _prefix("dg:", "the link's chart")
CHARGES_CSV = _prefix("dv:", "the link's charges as CSV")
EXPORT = _prefix("dx:", "every link as CSV")
# Issue 17 (handlers/print_receipt.py): the poster from a link's card or QR card, and a
# payment's receipt from its alert: rc:<link id>:<the charge id, cut to fit 64 bytes>.
POSTER = _prefix("dp:", "the link's printable A5 poster (PDF)")
RECEIPT = _prefix("rc:", "a payment's receipt (picture) for the vendor to forward")

# Issue 17, points 2 and 3: saved items (handlers/items.py), it:<owner id>:<action>[:<item id>],
# and the till (handlers/till.py), tl:<owner id>:<action>[:<item id>]; the owner id lets the
# handler refuse anybody else's press before anything is read.
ITEMS = _prefix("it:", "saved items: make an item's link, add, edit, remove")
TILL = _prefix("tl:", "the till: next customer, an item's amount")

# Issue 17, points 4 and 5 (handlers/reminders.py): an unpaid invoice's reminder from its
# card, rm:<link id>[:<1d | 3d | exp | off>]; the daily totals' time and switch,
# dt:<menu | auto | on | off | minute of the day>.
REMIND = _prefix("rm:", "remind me if this invoice is still unpaid")
DAILY = _prefix("dt:", "the daily totals: time, on, off")
DAILY_MENU = f"{DAILY}menu"

# The editor (handlers/edit.py).
EDIT_FIELD = _prefix("df:", "edit one field")
EDIT_METHODS = _prefix("dm:", "tick a payment method")
EDIT_SAVE_METHODS = _prefix("dw:", "save the ticked methods")
EDIT_CLEAR = _prefix("dz:", "clear a field")

# The create form (handlers/create/): f:<form id>:<action>:<arg>.
FORM = _prefix("f:", "a step of the create form")

# Drives (handlers/drive.py): dn:<group id>:<1 hide | 0 show>.
GROUP_NAMES = _prefix("dn:", "hide / show payers' names in a group's payment lines")

# Whole callback data of the /start buttons.
NEW_LINK = _prefix("start:new", "open the create form")
MY_LINKS = _prefix("start:links", "the link list")
HELP = _prefix("start:help", "the help text")

# The fallback's offer (handlers/fallback.py): ot:<offer id>, "Payer chooses" on
# "Make a link for RWF 5,000?".
OFFER = _prefix("ot:", "make the offered link, the payer choosing the amount")

# Staff (handlers/staff.py): staff:<action>[:<cashier id>[:<arg>]], the owner's own shop.
STAFF = _prefix("staff:", "/staff: invite, the owner's alerts of a cashier, remove")

# Settings and keys.
LANGUAGE = _prefix("lang:", "choose a language")
NOTIFY = _prefix("notify:", "choose which alerts to get")
DISCONNECT = _prefix("disconnect:", "/disconnect's answer: yes (forget the key) or no")


def data(prefix: str, link_id: str) -> str:
    value = f"{prefix}{link_id}"
    if len(value.encode()) > 64:
        raise ValueError("callback data over Telegram's 64 bytes")
    return value


def link_id_of(prefix: str, callback_data: str) -> str:
    return callback_data.removeprefix(prefix)
