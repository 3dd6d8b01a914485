"""The Payment Links API: create, list, get, update and archive, each key its own namespace."""

from __future__ import annotations

import math
import sqlite3
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.devtools.sandbox.protocol import ApiError, JSONResponse
from bot.devtools.sandbox.state import SandboxState, charge_json
from bot.devtools.sandbox.store import LinkRecord, amount_number, json_loads
from bot.devtools.sandbox.validation import validate_link


def _authenticate(request: Request, *, write: bool) -> str:
    key = request.headers.get("x-dgs-api-key", "")
    if not key.startswith("sk_test_") or len(key) == len("sk_test_"):
        raise ApiError(401, "Missing or invalid API key")
    if write and key.startswith("sk_test_readonly_"):
        raise ApiError(403, "This API key may only read")
    return key


async def _json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(400, "Content-Type must be application/json")
    try:
        body = json_loads(await request.body())
    except (ValueError, RecursionError):
        raise ApiError(400, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    return body


def _query_int(request: Request, name: str, default: int, errors: dict[str, list[str]]) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        errors.setdefault(name, []).append("Must be a whole number.")
        return default
    return int(raw)


class LinksApi:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.store = state.store

    def _owned(self, key: str, link_id: str) -> LinkRecord:
        link = self.store.get_link(link_id)
        if link is None or link.api_key != key:
            raise ApiError(404, "Payment link not found")
        return link

    async def create(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        body = await _json_object(request)
        checked = validate_link(body, current=None, now=self.state.now())
        if checked.errors:
            raise ApiError(422, "The given data was invalid", checked.errors)
        slug = checked.given.get("slug")
        if slug is not None and self.store.slug_taken(slug):
            raise ApiError(409, "The slug is already taken")
        values = checked.merged
        link = LinkRecord(
            id=str(uuid.uuid4()),
            api_key=key,
            slug=slug or self.state.unique_slug(values["title"]),
            created_at=self.state.now_text(),
            **values,
        )
        try:
            self.store.insert_link(link)
        except sqlite3.IntegrityError:
            raise ApiError(409, "The slug is already taken") from None
        return JSONResponse(
            {
                "status": "success",
                "message": "Payment link created",
                "link": self.state.link_json(link, self.state.base_url(request)),
            },
            status_code=201,
        )

    async def list(self, request: Request) -> Response:
        key = _authenticate(request, write=False)
        errors: dict[str, list[str]] = {}
        page = _query_int(request, "page", 1, errors)
        per_page = _query_int(request, "per_page", 20, errors)
        if "page" not in errors and page < 1:
            errors["page"] = ["Must be at least 1."]
        if "per_page" not in errors and not 1 <= per_page <= 100:
            errors["per_page"] = ["Must be from 1 to 100."]
        if errors:
            raise ApiError(422, "The given data was invalid", errors)
        total = self.store.count_links(key)
        offset = (page - 1) * per_page
        links = self.store.list_links(key, limit=per_page, offset=offset) if offset < total else []
        base = self.state.base_url(request)
        return JSONResponse(
            {
                "status": "success",
                "links": [self.state.link_json(link, base) for link in links],
                "pagination": {
                    "page": page,
                    "per_page": per_page,
                    "total": total,
                    "total_pages": math.ceil(total / per_page),
                },
            }
        )

    async def get(self, request: Request) -> Response:
        key = _authenticate(request, write=False)
        link = self._owned(key, request.path_params["link_id"])
        stats = self.store.charge_stats(link.id)
        return JSONResponse(
            {
                "status": "success",
                "link": self.state.link_json(link, self.state.base_url(request)),
                "stats": {
                    "total_charges": stats.total,
                    "successful_charges": stats.successful,
                    "pending_charges": stats.pending,
                    "failed_charges": stats.failed,
                    "total_collected": amount_number(stats.collected),
                    "currency": link.currency,
                },
                "recent_charges": [
                    charge_json(charge) for charge in self.store.recent_charges(link.id, 10)
                ],
            }
        )

    async def update(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        body = await _json_object(request)
        link = self._owned(key, request.path_params["link_id"])
        if link.archived:
            raise ApiError(410, "Payment link is archived")
        checked = validate_link(body, current=link, now=self.state.now())
        if checked.errors:
            raise ApiError(422, "The given data was invalid", checked.errors)
        slug = checked.given.get("slug")
        if slug is not None and slug != link.slug and self.store.slug_taken(slug):
            raise ApiError(409, "The slug is already taken")
        try:
            self.store.update_link(link.id, checked.given)
        except sqlite3.IntegrityError:
            raise ApiError(409, "The slug is already taken") from None
        updated = self._owned(key, link.id)
        return JSONResponse(
            {
                "status": "success",
                "message": "Payment link updated",
                "link": self.state.link_json(updated, self.state.base_url(request)),
            }
        )

    async def archive(self, request: Request) -> Response:
        key = _authenticate(request, write=True)
        link = self._owned(key, request.path_params["link_id"])
        if link.archived:
            raise ApiError(410, "Payment link is already archived")
        self.store.update_link(link.id, {"archived": True})
        return JSONResponse({"status": "success", "message": "Payment link archived"})
