"""The exceptions of the DGS client.

    DGSError                        base; ``status_code`` is the HTTP status or None
    ├── BadRequestError             400, and any other 4xx the contract does not name
    ├── AuthError                   401: missing, malformed or bad API key
    ├── ForbiddenError              403: the key may not do this
    ├── NotFoundError               404: no such link (or not this key's)
    ├── SlugTakenError              409: the custom slug is taken
    ├── ArchivedError               410: the link is archived
    ├── ValidationFailedError       422: ``field_errors`` maps a field to its messages
    ├── RateLimitedError            429 (or the key's pacing wait exceeds the budget):
    │                               ``retry_after`` in seconds, when known, at most
    │                               ``MAX_RETRY_AFTER``
    └── ProviderUnavailableError    5xx, connect errors, timeouts, a body that is not the
        │                           provider's JSON object, a 2xx body that does not match
        │                           the model, a 4xx without the provider's JSON error body
        └── CreateOutcomeUnknownError
                                    a create whose outcome could not be established even
                                    after looking it up; ``client_ref`` must be reused on
                                    "Try again" so no second link is made

Messages never contain the API key: the client builds them from the method, the path and
the provider's message with the key replaced by its hint.
"""

from __future__ import annotations

# The longest a 429 may make a key wait, whatever its Retry-After says.
MAX_RETRY_AFTER = 300.0


class DGSError(Exception):
    """Any failure talking to the provider."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class BadRequestError(DGSError):
    """400 malformed request; also an unexpected 4xx (405, 413, …), with its status."""


class AuthError(DGSError):
    """401: the API key is missing, malformed or not accepted."""


class ForbiddenError(DGSError):
    """403: the key is valid but not allowed to do this."""


class NotFoundError(DGSError):
    """404: no such link, or it belongs to another key."""


class SlugTakenError(DGSError):
    """409: the custom slug is already used."""


class ArchivedError(DGSError):
    """410: the link is archived and cannot change."""


class ValidationFailedError(DGSError):
    """422: the provider rejected fields; ``field_errors`` maps each to its messages."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: dict[str, list[str]] | None = None,
        status_code: int | None = 422,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.field_errors: dict[str, list[str]] = field_errors or {}


class RateLimitedError(DGSError):
    """429 (after any retries), or a local wait for the key longer than the retry budget."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = None if retry_after is None else min(retry_after, MAX_RETRY_AFTER)


class ProviderUnavailableError(DGSError):
    """The provider could not be reached or answered with something that is not its API."""


class CreateOutcomeUnknownError(ProviderUnavailableError):
    """A create may or may not have made a link; retry with the same ``client_ref``."""

    def __init__(self, message: str, *, client_ref: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.client_ref = client_ref


__all__ = [
    "MAX_RETRY_AFTER",
    "ArchivedError",
    "AuthError",
    "BadRequestError",
    "CreateOutcomeUnknownError",
    "DGSError",
    "ForbiddenError",
    "NotFoundError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "SlugTakenError",
    "ValidationFailedError",
]
