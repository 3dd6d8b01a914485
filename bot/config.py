"""Settings from the environment (and an optional ``.env``), validated once at start.

A missing or malformed variable stops the program with one line naming it; see
``SettingsError`` and ``load_settings``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from babel.numbers import list_currencies
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LANGUAGES: tuple[str, ...] = ("rw", "en", "fr", "sw")
DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DGS_API_BASE_URL = "https://pay.digitalservicescenter.rw/generation/v2"
DEFAULT_DGS_REQUESTS_PER_SECOND = 100.0
TELEGRAM_API_HOST = "api.telegram.org"
HEALTH_PATH = "/healthz"
DEFAULT_WEBHOOK_PORT = 8000
# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_SECRET_RULE = "1 to 256 characters of A-Z, a-z, 0-9, _ and -"  # noqa: S105

NO_TOKEN_HELP = (
    "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather in Telegram (/newbot), then run "  # noqa: S105
    "`TELEGRAM_BOT_TOKEN=<token> paylinks-bot --sandbox` to try the bot against the built-in "
    "sandbox provider, or `paylinks-bot sandbox` to run the sandbox alone."
)


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = DEFAULT_TELEGRAM_API_BASE_URL
    dgs_api_base_url: str = DEFAULT_DGS_API_BASE_URL
    dgs_api_key: SecretStr | None = None
    dgs_allowed_users: Annotated[frozenset[int], NoDecode] = frozenset()
    bot_data_dir: Path = Path("./data")
    # DATABASE_URL (bot/store/engine.py): unset or sqlite:///path is SQLite (by default the
    # file in BOT_DATA_DIR); postgresql://user:password@host/db is PostgreSQL. Secret: it may
    # hold a password.
    database_url: SecretStr | None = None
    bot_encryption_key: SecretStr | None = None
    poll_interval_seconds: float = Field(default=60.0, gt=0)
    bot_default_language: Literal["rw", "en", "fr", "sw"] = "en"
    bot_default_currency: str = "RWF"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Not in the fixed table, but operators need them on market day. The provider's
    # rate is learned per key from its 429s; this is where each key starts (see dgs_rate_ceiling).
    dgs_requests_per_second: float = Field(default=DEFAULT_DGS_REQUESTS_PER_SECOND, gt=0)
    max_concurrent_updates: int = Field(default=256, ge=1)
    # Set by `paylinks-bot demo` only: its local Bot API accepts URL buttons to 127.0.0.1, so the
    # cards offer **Open** for the local sandbox's payer pages. Telegram refuses those buttons,
    # so never set it for a bot that talks to Telegram.
    demo_mode: bool = False
    # Webhook mode (bot/webhook.py): WEBHOOK_URL set, Telegram posts updates to it instead of
    # the bot's long polling. Its path is the one the bot serves on WEBHOOK_LISTEN:PORT, behind
    # the operator's TLS proxy. Declared after TELEGRAM_API_BASE_URL and each after the one it
    # depends on: a validator sees only the fields declared before its own.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(
        default=DEFAULT_WEBHOOK_PORT,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("webhook_port", "port"),
    )
    webhook_max_connections: int = Field(default=40, ge=1, le=100)  # Telegram's range

    @field_validator(
        "telegram_bot_token",
        "dgs_api_key",
        "bot_encryption_key",
        "webhook_url",
        "webhook_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("telegram_api_base_url", "dgs_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("dgs_allowed_users", mode="before")
    @classmethod
    def _user_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids") from None
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            return value
        text = text.strip()
        if not text:
            return None
        if not text.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///path or postgresql://user:password@host/db")
        return text

    @field_validator("bot_default_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in list_currencies():
            raise ValueError("must be an ISO 4217 currency code such as RWF")
        return code

    @field_validator("bot_default_language", "log_level", mode="before")
    @classmethod
    def _fold_case(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if value.strip().upper() in _LOG_LEVELS else value.lower()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the public https:// URL Telegram posts updates to")
        bot_api = urlsplit(info.data.get("telegram_api_base_url", DEFAULT_TELEGRAM_API_BASE_URL))
        # Telegram's own server posts to https only; a self-hosted Bot API server (Telegram's
        # "local Bot API") also to http, which is how the tests and a private network run it.
        if parts.scheme != "https" and bot_api.hostname == TELEGRAM_API_HOST:
            raise ValueError("must be an https:// URL: Telegram posts updates over https only")
        if (parts.path or "/") == HEALTH_PATH:
            raise ValueError(f"must not end in {HEALTH_PATH}, which serves the health check")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("webhook_url"):
                raise ValueError(f"is required with WEBHOOK_URL: {_WEBHOOK_SECRET_RULE}")
            return None
        if not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(f"must be {_WEBHOOK_SECRET_RULE}")
        return value

    @field_validator("webhook_port", mode="before")
    @classmethod
    def _port_in_webhook_mode(cls, value: Any, info: ValidationInfo) -> Any:
        # PORT is a common variable (a PaaS sets it for whatever runs there): long polling
        # listens on nothing, so it neither reads PORT nor fails on it.
        return value if info.data.get("webhook_url") else DEFAULT_WEBHOOK_PORT

    @property
    def webhook_path(self) -> str:
        """The path the webhook is served at: WEBHOOK_URL's, as the proxy passes it on."""
        return urlsplit(self.webhook_url or "").path or "/"

    @property
    def database_path(self) -> Path:
        return self.bot_data_dir / "paylinks.sqlite3"

    @property
    def database_target(self) -> str | Path:
        """What ``open_database`` opens: DATABASE_URL, else the SQLite file in the data dir."""
        if self.database_url is None:
            return self.database_path
        return self.database_url.get_secret_value()

    @property
    def replicated(self) -> bool:
        """Replica mode (``bot/replicas.py``): the webhook on PostgreSQL. No switch of its own:
        only there can several processes serve one bot (long polling allows one getUpdates
        caller; SQLite one process per data folder), and there the mode is always safe."""
        return self.webhook_url is not None and str(self.database_target).startswith(
            ("postgresql://", "postgres://")
        )

    def token(self) -> str:
        """The bot token, or ``SettingsError`` with how to get one."""
        if self.telegram_bot_token is None:
            raise SettingsError(NO_TOKEN_HELP)
        return self.telegram_bot_token.get_secret_value()

    def operator_key_for(self, user_id: int) -> str | None:
        """The operator's shared key when this user may use it."""
        if self.dgs_api_key is not None and user_id in self.dgs_allowed_users:
            return self.dgs_api_key.get_secret_value()
        return None

    @property
    def dgs_rate_ceiling(self) -> float | None:
        """``DGS_REQUESTS_PER_SECOND`` set by the operator is also a ceiling: the learned rate
        never rises above it. Left unset, it is only the starting rate."""
        if "dgs_requests_per_second" in self.model_fields_set:
            return self.dgs_requests_per_second
        return None

    @property
    def poll_interval(self) -> Decimal:
        return Decimal(str(self.poll_interval_seconds))


_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        if variable == "WEBHOOK_PORT":
            variable = "WEBHOOK_PORT (or PORT)"
        reason = str(error["msg"]).removeprefix("Value error, ")
        if reason.startswith("is required"):
            raise SettingsError(f"{variable} {reason}") from None
        raise SettingsError(f"{variable} is malformed: {reason}") from None
