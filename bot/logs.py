"""Readable log lines that never carry the bot token or an API key.

httpx logs every request URL at INFO, and Bot API URLs contain the token, so its request log
is silenced; a redacting filter on the handler is the second line of defence, for exception
text and third-party messages we do not control.

A pattern only catches secrets of a known shape. A key of any other shape is redacted because
the bot tells ``SECRETS`` about it: every stored key when the bot starts (``bot/app.py``), a
key when it is pasted (``handlers/connect.py``), and the text of any message received while a
key is awaited, before python-telegram-bot logs the update (``bot/updates_request.py``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections import deque
from collections.abc import Iterable

# Telegram tokens look like 123456789:AA...; provider keys start with sk_ (live or test).
_TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_KEY_PATTERN = re.compile(r"\bsk_[A-Za-z0-9_\-]{6,}")
REDACTED = "[redacted]"
# Shorter text is not registered: "ok" or "Rent" redacted in every line would ruin the log,
# and no provider key is that short.
MIN_SECRET_LENGTH = 8


class SecretRegistry:
    """Secrets known by value, shared by every redacting filter of the process.

    Found by their first characters, with a dictionary look-up or two per position of the
    text: a regular expression of thousands of stored keys took 80 ms a DEBUG line. Keys share
    their first 8 characters (``sk_live_``), so a long secret is found by its first 16.
    Logging happens from worker threads too, so the index is replaced, never changed in place.
    """

    _LONG = 2 * MIN_SECRET_LENGTH

    def __init__(self, *, max_texts: int = 4096) -> None:
        # First characters → the secrets starting with them, longest first (one that contains
        # another is replaced whole).
        self._index: dict[str, tuple[str, ...]] = {}
        # Words of messages that may have held a key: the newest ``max_texts`` are kept (a
        # user may send anything while a key is awaited; keys themselves are always kept).
        self._texts: deque[str] = deque()
        self._max_texts = max_texts

    def add(self, *secrets: str) -> None:
        """Redact these from now on, for good (one shorter than ``MIN_SECRET_LENGTH`` is
        ignored)."""
        self._add(secrets)
        if self._texts and any(s in self._texts for s in secrets):
            # A text that turns out to be a key is kept for good, not forgotten with texts.
            self._texts = deque(t for t in self._texts if t not in secrets)

    def _add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH and s not in self}
        if not new:
            return
        index = dict(self._index)
        for secret in new:
            head = self._head(secret)
            index[head] = (*index.get(head, ()), secret)
        for head in {self._head(secret) for secret in new}:
            index[head] = tuple(sorted(index[head], key=len, reverse=True))
        self._index = index

    def add_text(self, text: str) -> None:
        """A message that may hold a key: the whole text and each word long enough."""
        words = [w for w in {text.strip(), *text.split()} if len(w) >= MIN_SECRET_LENGTH]
        new = [w for w in words if w not in self]
        self._add(new)
        self._texts.extend(new)
        if len(self._texts) > self._max_texts:
            old = [self._texts.popleft() for _ in range(len(self._texts) - self._max_texts)]
            self._forget(old)

    def _forget(self, secrets: Iterable[str]) -> None:
        index = dict(self._index)
        for secret in secrets:
            head = self._head(secret)
            kept = tuple(s for s in index.get(head, ()) if s != secret)
            if kept:
                index[head] = kept
            else:
                index.pop(head, None)
        self._index = index

    def __len__(self) -> int:
        return sum(len(found) for found in self._index.values())

    def _head(self, secret: str) -> str:
        return secret[: self._LONG if len(secret) >= self._LONG else MIN_SECRET_LENGTH]

    def __contains__(self, secret: object) -> bool:
        return isinstance(secret, str) and secret in self._index.get(self._head(secret), ())

    def redact(self, text: str) -> str:
        index = self._index
        if not index:
            return text
        parts: list[str] = []
        done = i = 0
        last = len(text) - MIN_SECRET_LENGTH
        while i <= last:
            found = self._match(index, text, i)
            if found:
                parts += (text[done:i], REDACTED)
                i = done = i + found
            else:
                i += 1
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def _match(self, index: dict[str, tuple[str, ...]], text: str, i: int) -> int:
        """The length of the longest secret at ``text[i:]``, or 0."""
        long = index.get(text[i : i + self._LONG], ()) if len(text) - i >= self._LONG else ()
        for secret in (*long, *index.get(text[i : i + MIN_SECRET_LENGTH], ())):
            if text.startswith(secret, i):
                return len(secret)
        return 0


SECRETS = SecretRegistry()
"""The process's registry: what every ``RedactSecrets`` redacts besides its own secrets."""


class RedactSecrets(logging.Filter):
    """Replaces known secrets and anything shaped like a token or API key."""

    def __init__(self, secrets: Iterable[str] = (), registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self._secrets = {s for s in secrets if s}
        self._registry = registry

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = self._registry.redact(text)
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
