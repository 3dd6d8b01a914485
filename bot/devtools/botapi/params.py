"""Decoding Bot API requests as Telegram does: query string, form, JSON or multipart."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from PIL import Image
from starlette.requests import Request

from bot.devtools.botapi.builders import JSON, MAX_CALLBACK_DATA_BYTES
from bot.devtools.botapi.model import ApiError, UploadedFile

# PTB sends each parameter as a form field; non-strings are JSON-encoded, strings are sent raw,
# so a string parameter must never be JSON-decoded (text "123" stays "123").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "query",
        "callback_query_id",
        "inline_query_id",
        "inline_message_id",
        "photo",
        "document",
        "sticker",
        "video",
        "audio",
        "animation",
        "voice",
        "file_id",
        "action",
        "language_code",
        "next_offset",
        "url",
        "title",
        "description",
        "short_description",
        "name",
        "emoji",
        "business_connection_id",
        "message_effect_id",
        "secret_token",
        "ip_address",
        "result_id",
        "switch_pm_text",
        "switch_pm_parameter",
    }
)
# In JSON bodies Telegram also accepts these objects as JSON-encoded strings.
_OBJECT_PARAMS = frozenset(
    {
        "reply_markup",
        "results",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
        "media",
        "button",
        "message_ids",
    }
)


def _decode_form_value(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _decode_json_value(name: str, value: Any) -> Any:
    if name in _OBJECT_PARAMS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_PARAM_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ApiError(400, "Bad Request: multipart boundary is missing")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = {
            key.lower(): value.replace("%22", '"').replace("\\\\", "\\")
            for key, value in _PARAM_RE.findall(headers.get("content-disposition", ""))
        }
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            files[name] = UploadedFile(
                disposition["filename"], content, headers.get("content-type")
            )
        else:
            fields[name] = content.decode("utf-8")
    return fields, files


async def read_params(request: Request) -> tuple[JSON, dict[str, UploadedFile]]:
    params: JSON = {k: _decode_form_value(k, v) for k, v in request.query_params.items()}
    files: dict[str, UploadedFile] = {}
    if request.method != "POST":
        return params, files
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "Bad Request: can't parse JSON body") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "Bad Request: JSON body must be an object")
        params.update({k: _decode_json_value(k, v) for k, v in data.items()})
    elif content_type.startswith("multipart/form-data"):
        fields, files = _parse_multipart(body, content_type)
        params.update({k: _decode_form_value(k, v) for k, v in fields.items()})
    elif body:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        params.update({k: _decode_form_value(k, v) for k, v in pairs})
    return params, files


def int_param(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"Bad Request: invalid {name} specified") from exc


def bool_param(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is True or value in ("true", "True", "1", 1)


def image_size(content: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def validate_inline_keyboard(markup: Mapping[str, Any]) -> None:
    """Raise the ``ApiError`` Telegram answers for a bad inline keyboard."""
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard: rows must be arrays")
    actions = (
        "callback_data",
        "url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "web_app",
        "login_url",
        "callback_game",
        "pay",
        "copy_text",
    )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(
                    400, "Bad Request: can't parse inline keyboard button: text is empty"
                )
            if sum(1 for key in actions if key in button) != 1:
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "exactly one of the optional fields must be used",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise ApiError(
                    400,
                    f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
                )
