"""Log lines never carry the bot token or an API key, not even inside exception text."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, RedactSecrets

TOKEN = "123456789:AAH-secret-token-value-that-is-long-enough"
KEY = "sk_live_abcdef1234567890"


def _log_through(redactor: RedactSecrets, emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [handler]
    logger.propagate = False
    assert callable(emit)
    emit(logger)
    return stream.getvalue()


def test_known_secrets_and_secret_shapes_are_redacted() -> None:
    redactor = RedactSecrets([TOKEN])
    out = _log_through(
        redactor,
        lambda log: log.warning("GET https://api.telegram.org/bot%s/getMe with %s", TOKEN, KEY),
    )
    assert TOKEN not in out and KEY not in out
    assert out.count(REDACTED) == 2


def test_exception_text_is_redacted() -> None:
    redactor = RedactSecrets()

    def emit(log: logging.Logger) -> None:
        try:
            raise RuntimeError(f"request to /bot{TOKEN}/sendMessage failed for key {KEY}")
        except RuntimeError:
            log.exception("send failed")

    out = _log_through(redactor, emit)
    assert "send failed" in out and "RuntimeError" in out
    assert TOKEN not in out and KEY not in out


def test_httpx_request_lines_are_silenced() -> None:
    from bot.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", [TOKEN])
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
