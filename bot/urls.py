"""Which URLs Telegram accepts on a URL button."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_public_url(url: str | None) -> bool:
    """Telegram refuses URL buttons to localhost and private addresses (the local sandbox)."""
    if not url:
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return address.is_global


def url_button_allowed(url: str | None, *, demo_mode: bool = False) -> bool:
    """Whether a URL button to ``url`` will be accepted: by Telegram, public addresses only; by
    the demo's local Bot API (``Settings.demo_mode``), any http(s) address."""
    if demo_mode and url and urlsplit(url).scheme in ("http", "https"):
        return True
    return is_public_url(url)
