"""The DGS Payment Links provider: typed models, the exception tree and the async client."""

from __future__ import annotations

from bot.dgs.client import (
    API_KEY_HEADER,
    DEFAULT_BASE_URL,
    MAX_PER_PAGE,
    DGSClient,
    key_hint,
)
from bot.dgs.errors import (
    ArchivedError,
    AuthError,
    BadRequestError,
    CreateOutcomeUnknownError,
    DGSError,
    ForbiddenError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitedError,
    SlugTakenError,
    ValidationFailedError,
)
from bot.dgs.models import CLIENT_REF_KEY

__all__ = [
    "API_KEY_HEADER",
    "CLIENT_REF_KEY",
    "DEFAULT_BASE_URL",
    "MAX_PER_PAGE",
    "ArchivedError",
    "AuthError",
    "BadRequestError",
    "CreateOutcomeUnknownError",
    "DGSClient",
    "DGSError",
    "ForbiddenError",
    "NotFoundError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SlugTakenError",
    "ValidationFailedError",
    "key_hint",
]
