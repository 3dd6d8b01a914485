"""The embedded DGS provider sandbox: the Payment Links API, a payer page and test controls.

It implements ``payment-links.txt`` and ``CONTRACT.md``. Where both leave a choice, the sandbox
decides as follows (tests and clients may rely on it):

- Unknown fields in a create or PATCH body: 422, with the error under the field's name.
- A POST or PATCH whose ``Content-Type`` is not ``application/json``: 400.
- A key ``sk_test_readonly_…`` may read (GET) but not write: 403 on POST, PATCH and DELETE.
  Every key is its own namespace, the read-only ones included.
- ``page``/``per_page`` that are not integers, ``page < 1``, ``per_page`` outside 1–100: 422
  (never clamped).
- A second DELETE of an archived link: 410, as a PATCH of one.
- On create, ``null`` for an optional field means "not given" (its default applies). On PATCH,
  ``null`` clears it (``max_uses``/``expires_at``: unlimited; ``payment_types`` and
  ``collect_*``: back to their defaults). ``title``, ``amount_type``, ``currency`` and, on
  PATCH, ``slug`` may not be null.
- PATCH validates the link as it would be after the change, so turning a fixed link flexible
  needs ``"amount": null`` in the same body. ``expires_at`` must be in the future only when
  it is sent.
- ``status`` is computed on read against the sandbox clock: archived, else completed
  (``use_count >= max_uses``), else expired (now past ``expires_at``), else active.
- Amounts must be below 10^15 (a sandbox limit) and be JSON numbers, not strings.
- An omitted slug comes from the title (``Invoice #123`` → ``invoice-123``); when that is
  taken, a random ``-xxxxxx`` hex suffix makes it unique. Slugs are unique across all keys.
- The payer page speaks the payer's language: ``?lang=`` (rw, en, fr, sw), else the browser's
  ``Accept-Language``, else English. Its texts are the bot's catalogues (``payer-…`` keys),
  its amounts are formatted, and typed amounts read, with that language's separators.

Test controls exist only when the app is built with ``test_mode=True`` (404 otherwise):

- ``POST /_sandbox/charges`` ``{link_id, amount, status?, payment_type?, payer_name?,
  payer_phone?, key?}`` records a charge whatever the link's state (``key``, if given, must
  own the link) and answers the charge as ``recent_charges`` shows it.
  ``POST /_sandbox/charges/{id}`` ``{status}`` settles a pending charge (409 if not pending).
- ``POST /_sandbox/faults`` ``{method?, path?, key?, status?, retry_after?, delay?, hang?,
  drop?, after?, body?, times?}``: the first fault matching an API request (``path`` is a
  regex searched in the URL path) acts on it, ``times`` times (default 1, 0 = until cleared).
  ``delay`` waits, then ``hang`` never answers (until the client leaves), ``drop`` closes the
  connection without a response, ``status``/``body`` answer instead (``retry_after`` sets
  ``Retry-After``; ``body`` is sent raw; ``status`` defaults to 500, or 429 with
  ``retry_after``). Only a ``delay`` lets the request go on. Faults act before
  authentication; delayed and hung requests answer 503 when the sandbox stops. With
  ``after`` the real operation runs first and the fault replaces its response; ``drop``
  implies ``after`` unless ``after`` is false. ``GET``/``DELETE /_sandbox/faults`` list/clear.
- ``POST /_sandbox/clock`` ``{advance_seconds}``, ``POST /_sandbox/reset``,
  ``GET``/``DELETE /_sandbox/requests`` (the API request log: method, path, query, the key's
  last 4 characters, content type, body, status sent), ``POST /_sandbox/keys/{key}/delay``
  ``{seconds}`` (0 removes it).
- In process only, ``SandboxState.corrupt_link``: a link served with fields the API would
  never write (an amount of ``"abc"``, a field left out), to test a client's tolerance.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bot.devtools.sandbox.api import LinksApi
from bot.devtools.sandbox.controls import Controls
from bot.devtools.sandbox.payer import PayerPage, not_found_page
from bot.devtools.sandbox.protocol import (
    API_PREFIX,
    CONTROL_PREFIX,
    LINKS_PATH,
    PAY_PATH,
    ApiError,
    ControlError,
    JSONResponse,
)
from bot.devtools.sandbox.state import SandboxState
from bot.devtools.sandbox.store import SandboxStore


class SandboxApp(Starlette):
    """Starlette, with the request log, key delays and faults in front of the API."""

    def __init__(self, state: SandboxState, routes: list[Route]) -> None:
        super().__init__(
            routes=routes,
            exception_handlers={
                ApiError: _api_error,
                ControlError: _control_error,
                HTTPException: _http_error,
            },
        )
        self.sandbox = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.sandbox.serve_api(scope, receive, send, super().__call__)
        else:
            await super().__call__(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _control_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlError)
    return JSONResponse({"status": "error", "message": exc.message}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if path.startswith(PAY_PATH + "/") and exc.status_code == 404:
        return not_found_page(request)
    if path.startswith((API_PREFIX, CONTROL_PREFIX)):
        return JSONResponse(
            {"status": "error", "message": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    return Response(exc.detail, status_code=exc.status_code, headers=exc.headers)


def create_app(
    *, db_path: str = ":memory:", test_mode: bool = False, public_base_url: str | None = None
) -> SandboxApp:
    """The sandbox as an ASGI app; ``app.sandbox`` is its state (store, clock, faults)."""
    state = SandboxState(
        SandboxStore(db_path), test_mode=test_mode, public_base_url=public_base_url
    )
    api = LinksApi(state)
    payer = PayerPage(state)
    routes = [
        Route(LINKS_PATH, api.create, methods=["POST"]),
        Route(LINKS_PATH, api.list, methods=["GET"]),
        Route(LINKS_PATH + "/{link_id}", api.get, methods=["GET"]),
        Route(LINKS_PATH + "/{link_id}", api.update, methods=["PATCH"]),
        Route(LINKS_PATH + "/{link_id}", api.archive, methods=["DELETE"]),
        Route(PAY_PATH + "/{slug}", payer.show, methods=["GET"]),
        Route(PAY_PATH + "/{slug}", payer.pay, methods=["POST"]),
    ]
    if test_mode:
        controls = Controls(state)
        routes += [
            Route(CONTROL_PREFIX + "/charges", controls.add_charge, methods=["POST"]),
            Route(CONTROL_PREFIX + "/charges/{charge_id}", controls.settle, methods=["POST"]),
            Route(CONTROL_PREFIX + "/faults", controls.add_fault, methods=["POST"]),
            Route(CONTROL_PREFIX + "/faults", controls.list_faults, methods=["GET"]),
            Route(CONTROL_PREFIX + "/faults", controls.clear_faults, methods=["DELETE"]),
            Route(CONTROL_PREFIX + "/clock", controls.clock, methods=["POST"]),
            Route(CONTROL_PREFIX + "/reset", controls.reset, methods=["POST"]),
            Route(CONTROL_PREFIX + "/requests", controls.requests, methods=["GET"]),
            Route(CONTROL_PREFIX + "/requests", controls.clear_requests, methods=["DELETE"]),
            Route(CONTROL_PREFIX + "/keys/{key}/delay", controls.key_delay, methods=["POST"]),
        ]
    return SandboxApp(state, routes)


__all__ = ["SandboxApp", "create_app"]
