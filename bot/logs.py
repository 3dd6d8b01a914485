"""Readable log lines that never carry the bot token or an API key.

httpx logs every request URL at INFO, and Bot API URLs contain the token, so its request log
is silenced; a redacting filter on the handler is the second line of defence, for exception
text and third-party messages we do not control.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

# Telegram tokens look like 123456789:AA...; provider keys start with sk_ (live or test).
_TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_KEY_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]{6,}")
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces known secrets and anything shaped like a token or API key."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = {s for s in secrets if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_PATTERN.sub(REDACTED, text)
        return _KEY_PATTERN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(level: str, secrets: Iterable[str] = ()) -> RedactSecrets:
    """Root logging to stderr: ``time level logger: message``; returns the redactor."""
    redactor = RedactSecrets(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access", "aiosqlite", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return redactor
