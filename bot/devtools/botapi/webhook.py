"""Webhooks in the local Bot API: setWebhook, deleteWebhook, getWebhookInfo, and the delivery.

While a webhook is set, each queued update is POSTed to its URL, oldest first, one at a time,
with the secret header; it leaves the queue only on a 2xx answer, and is posted again after
``webhook_retry_seconds`` otherwise, as Telegram does. getUpdates then answers 409, as Telegram
does (``methods.py``).

``webhook_round_robin``: a load balancer in front of several replicas. When it lists URLs, each
post goes to the next of them in turn instead of the webhook's URL (a retry too: the next).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot.devtools.botapi.builders import JSON
from bot.devtools.botapi.model import ApiError, UploadedFile
from bot.devtools.botapi.params import bool_param
from bot.devtools.botapi.state import BotApiState

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
GET_UPDATES_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None


@dataclass(frozen=True)
class Delivery:
    """One POST of an update to the webhook: its answer's status (0: no answer)."""

    update_id: int
    status: int
    url: str = ""


class WebhookMethods(BotApiState):
    """The webhook methods, and the task that posts queued updates while a webhook is set."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.webhook: Webhook | None = None
        self.deliveries: list[Delivery] = []
        # Telegram waits longer, growing; a test wants the retry to come soon.
        self.webhook_retry_seconds = 1.0
        self._last_webhook_error: tuple[int, str] | None = None
        self._delivery: asyncio.Task[None] | None = None
        # The load balancer's replicas (tests may replace the list at any time).
        self.webhook_round_robin: list[str] = []
        self._turn = 0

    def _set_webhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params, files)
        if not url.startswith(("http://", "https://")):
            # A local Bot API server accepts http URLs; Telegram's own only https.
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int(params.get("max_connections") or 40)
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be 1 to 100")
        allowed = params.get("allowed_updates")
        self.webhook = Webhook(
            url, None if secret is None else str(secret), max_connections, allowed or None
        )
        if bool_param(params, "drop_pending_updates"):
            self._updates.clear()
        if self._delivery is None or self._delivery.done():
            self._delivery = asyncio.create_task(self._deliver())
        self._notify()
        return True

    def _delete_webhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self.webhook = None
        if bool_param(params, "drop_pending_updates"):
            self._updates.clear()
        self._notify()  # the delivery task sees it and ends
        return True

    def _get_webhook_info(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        info: JSON = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        if self._last_webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = self._last_webhook_error
        return info

    async def _deliver(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while self.webhook is not None and not self._closing.is_set():
                if not self._updates:
                    await self._wait_change(5.0)
                    continue
                update = self._updates[0]
                url = self._next_url(self.webhook)
                status = await self._post(client, self.webhook, url, update)
                self.deliveries.append(Delivery(update["update_id"], status, url))
                self._trim(self.deliveries)
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u is not update]
                    self._notify()
                else:
                    await self._sleep(self.webhook_retry_seconds)

    def _next_url(self, hook: Webhook) -> str:
        targets = self.webhook_round_robin
        if not targets:
            return hook.url
        self._turn += 1
        return targets[(self._turn - 1) % len(targets)]

    async def _post(self, client: httpx.AsyncClient, hook: Webhook, url: str, update: JSON) -> int:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers[SECRET_HEADER] = hook.secret_token
        try:
            response = await client.post(url, content=json.dumps(update), headers=headers)
        except httpx.HTTPError as exc:
            self._last_webhook_error = (int(time.time()), type(exc).__name__)
            return 0
        if not 200 <= response.status_code < 300:
            message = f"Wrong response from the webhook: {response.status_code}"
            self._last_webhook_error = (int(time.time()), message)
        return response.status_code

    async def _stop_delivery(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
            self._delivery = None
