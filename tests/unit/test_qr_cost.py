"""What a QR card costs (issue 15: 100 cards at once on one shared key)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import qrcode

from bot import qr


def test_a_card_encodes_its_code_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Encoding (eight masks tried) is most of a card's cost: the code and the small print's
    # width must not each encode it.
    made: list[str] = []
    make = qrcode.QRCode.make

    def counted(self: qrcode.QRCode, *args: Any, **kwargs: Any) -> None:
        made.append("make")
        make(self, *args, **kwargs)

    monkeypatch.setattr(qrcode.QRCode, "make", counted)
    url = f"https://pay.digitalservicescenter.rw/generation/pay/{uuid.uuid4().hex}"
    png = qr.render_qr_card(url, "Tomatoes", "RWF 1,000", scan_text="Scan to pay")
    assert png.startswith(b"\x89PNG")
    assert made == ["make"]
