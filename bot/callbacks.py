"""Callback data of buttons that act on a link, shared by handlers and the alert sender.

Each is a short prefix plus the provider's link id (a UUID: 36 bytes), well inside
Telegram's 64-byte limit whatever the title. Every press is re-authorised by the handler:
the presser must own the link (or administer its group).
"""

from __future__ import annotations

LINK_CARD = "lk:"  # show the link card (dashboard)
EXTEND = "lx:"  # extend expiry by 7 days
REOPEN = "lr:"  # raise max uses
DUPLICATE = "ld:"  # a new form prefilled from this link
MUTE = "lm:"  # mute / unmute alerts of this link


def data(prefix: str, link_id: str) -> str:
    value = f"{prefix}{link_id}"
    if len(value.encode()) > 64:
        raise ValueError("callback data over Telegram's 64 bytes")
    return value


def link_id_of(prefix: str, callback_data: str) -> str:
    return callback_data.removeprefix(prefix)
