"""The webhook settings (``bot/config.py``): what switches webhook mode on, and the one line an
operator gets for each mistake, as Telegram's rules for a webhook require."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import Settings, SettingsError, load_settings

TOKEN = "123456789:TEST-token-for-the-settings-xxxxxxxxxxxx"
LOCAL_BOT_API = "http://127.0.0.1:8081/bot"


def settings(**values: Any) -> Settings:
    return load_settings(_env_file=None, telegram_bot_token=TOKEN, **values)


def refusal(**values: Any) -> str:
    with pytest.raises(SettingsError) as refused:
        settings(**values)
    return str(refused.value)


@pytest.fixture(autouse=True)
def _no_port_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "WEBHOOK_PORT", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEBHOOK_LISTEN"):
        monkeypatch.delenv(name, raising=False)


def test_unset_is_long_polling() -> None:
    assert settings().webhook_url is None


def test_a_webhook_with_its_secret_port_and_path() -> None:
    found = settings(
        webhook_url="https://bot.example.rw/tg/updates",
        webhook_secret="Abc_123-xyz",
        webhook_listen="0.0.0.0",
        webhook_port=8443,
        webhook_max_connections=100,
    )
    assert found.webhook_url == "https://bot.example.rw/tg/updates"
    assert found.webhook_path == "/tg/updates"
    assert found.webhook_secret is not None
    assert found.webhook_secret.get_secret_value() == "Abc_123-xyz"
    assert (found.webhook_listen, found.webhook_port) == ("0.0.0.0", 8443)
    assert found.webhook_max_connections == 100
    assert "Abc_123-xyz" not in repr(found)


def test_a_url_without_a_path_is_served_at_the_root() -> None:
    found = settings(webhook_url="https://bot.example.rw", webhook_secret="s")
    assert found.webhook_path == "/"


def test_the_secret_is_required_with_a_url() -> None:
    line = refusal(webhook_url="https://bot.example.rw/tg")
    assert line.startswith("WEBHOOK_SECRET is required with WEBHOOK_URL")
    assert "\n" not in line


@pytest.mark.parametrize(
    "secret", ["has space", "dots.are.not.allowed", "é-accent", "x" * 257, "tab\there"]
)
def test_a_secret_outside_telegrams_alphabet_is_refused_without_echoing_it(secret: str) -> None:
    line = refusal(webhook_url="https://bot.example.rw/tg", webhook_secret=secret)
    assert line.startswith("WEBHOOK_SECRET is malformed")
    assert "A-Z, a-z, 0-9, _ and -" in line
    assert secret not in line


@pytest.mark.parametrize("secret", ["a", "x" * 256, "A-Z_a-z_0-9"])
def test_secrets_of_one_to_256_allowed_characters_are_taken(secret: str) -> None:
    found = settings(webhook_url="https://bot.example.rw/tg", webhook_secret=secret)
    assert found.webhook_secret is not None
    assert found.webhook_secret.get_secret_value() == secret


def test_telegrams_own_bot_api_needs_an_https_url() -> None:
    line = refusal(webhook_url="http://bot.example.rw/tg", webhook_secret="s")
    assert line.startswith("WEBHOOK_URL is malformed") and "https" in line


def test_a_local_bot_api_server_may_post_over_http() -> None:
    found = settings(
        telegram_api_base_url=LOCAL_BOT_API,
        webhook_url="http://127.0.0.1:8000/tg",
        webhook_secret="s",
    )
    assert found.webhook_url == "http://127.0.0.1:8000/tg"


@pytest.mark.parametrize("url", ["bot.example.rw/tg", "ftp://bot.example.rw/tg", "https://"])
def test_a_url_that_is_not_one_is_refused(url: str) -> None:
    assert refusal(webhook_url=url, webhook_secret="s").startswith("WEBHOOK_URL is malformed")


def test_the_health_path_cannot_be_the_webhook() -> None:
    line = refusal(webhook_url="https://bot.example.rw/healthz", webhook_secret="s")
    assert line.startswith("WEBHOOK_URL is malformed") and "/healthz" in line


@pytest.mark.parametrize("connections", [0, 101])
def test_max_connections_stay_in_telegrams_range(connections: int) -> None:
    line = refusal(
        webhook_url="https://bot.example.rw/tg",
        webhook_secret="s",
        webhook_max_connections=connections,
    )
    assert line.startswith("WEBHOOK_MAX_CONNECTIONS is malformed")


def test_the_port_comes_from_port_or_webhook_port(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = {"webhook_url": "https://bot.example.rw/tg", "webhook_secret": "s"}
    assert settings(**hook).webhook_port == 8000
    monkeypatch.setenv("PORT", "9000")  # as a PaaS sets it
    assert settings(**hook).webhook_port == 9000
    monkeypatch.setenv("WEBHOOK_PORT", "9001")
    assert settings(**hook).webhook_port == 9001
    monkeypatch.setenv("WEBHOOK_PORT", "ninety")
    assert refusal(**hook).startswith("WEBHOOK_PORT (or PORT) is malformed")


def test_long_polling_does_not_read_port(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another program's PORT (or an odd one) must not stop a bot that listens on nothing.
    monkeypatch.setenv("PORT", "not-a-port")
    assert settings().webhook_url is None


def test_webhook_variables_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.rw/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("WEBHOOK_LISTEN", "0.0.0.0")
    found = settings()
    assert (found.webhook_path, found.webhook_listen) == ("/hook", "0.0.0.0")
