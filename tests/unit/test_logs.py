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


# --- issue 12, point 11: secrets known by value, whatever their shape ----------------------

ODD_KEY = "Zx9-unknown-shape-KEY-7781"  # matches no pattern


def test_a_secret_registered_after_the_filter_was_installed_is_redacted() -> None:
    from bot.logs import SecretRegistry

    registry = SecretRegistry()
    redactor = RedactSecrets(registry=registry)
    assert ODD_KEY in _log_through(redactor, lambda log: log.warning("got %s", ODD_KEY))
    registry.add(ODD_KEY)
    out = _log_through(redactor, lambda log: log.warning("got %r", {"text": ODD_KEY}))
    assert ODD_KEY not in out and REDACTED in out


def test_a_pasted_text_is_registered_whole_and_word_by_word_but_not_short_words() -> None:
    from bot.logs import SecretRegistry

    registry = SecretRegistry()
    registry.add_text(f"  my key {ODD_KEY}\n")
    assert f"my key {ODD_KEY}" in registry and ODD_KEY in registry
    # "my" and "key" would blank out half the log.
    assert registry.redact("my key is here") == "my key is here"
    assert registry.redact(f"[{ODD_KEY}]") == f"[{REDACTED}]"
    # A secret that begins another is no reason to leave the longer one's tail in the log.
    registry.add(ODD_KEY[:12])
    assert registry.redact(f"{ODD_KEY}!") == f"{REDACTED}!"


def test_the_updates_request_registers_private_text_from_someone_awaiting_a_key() -> None:
    import json

    from bot.logs import SecretRegistry
    from bot.updates_request import UpdatesRequest

    registry = SecretRegistry()
    request = UpdatesRequest(registry=registry)
    request.awaits_key = lambda user_id: user_id == 7
    private = {"id": 7, "type": "private"}
    group = {"id": -100, "type": "supergroup"}
    updates = [
        {"update_id": 1, "message": {"chat": private, "from": {"id": 7}, "text": ODD_KEY}},
        {"update_id": 2, "message": {"chat": group, "from": {"id": 7}, "text": "group-text-1"}},
        {
            "update_id": 3,
            "message": {
                "chat": {"id": 8, "type": "private"},
                "from": {"id": 8},
                "text": "someone-else-1",
            },
        },
        {
            "update_id": 4,
            "edited_message": {"chat": private, "from": {"id": 7}, "text": "edited-key-0007"},
        },
    ]
    payload = json.dumps({"ok": True, "result": updates}).encode()
    assert request.parse_json_payload(payload)["result"] == updates
    assert ODD_KEY in registry and "edited-key-0007" in registry
    assert "group-text-1" not in registry and "someone-else-1" not in registry


def test_texts_received_while_a_key_is_awaited_are_bounded_but_keys_are_kept() -> None:
    from bot.logs import SecretRegistry

    registry = SecretRegistry(max_texts=100)
    registry.add_text("pasted-key-of-any-shape-0001")
    registry.add("pasted-key-of-any-shape-0001")  # it was a key after all: kept for good
    for n in range(100_000):
        registry.add_text(f"some words number-{n:06d} sent while waiting")
    assert len(registry) <= 101
    assert registry.redact("k=pasted-key-of-any-shape-0001") == "k=[redacted]"
    assert registry.redact("number-099999") == "[redacted]"  # the newest are still known
    assert registry.redact("number-000001") == "number-000001"  # the oldest are forgotten
