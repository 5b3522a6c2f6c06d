"""Strict readers for query strings and JSON bodies: anything unexpected is an ApiError."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from .errors import invalid_inputs, param_missing

DIGITS = re.compile(r"[0-9]{1,30}")
BOOLEANS = {"true": True, "false": False}  # assumption: only lower-case true/false


@dataclass(frozen=True)
class Incoming:
    """One request as the handlers read it: the query pairs in order (repeats kept), the raw body, headers."""

    query: list[tuple[str, str]]
    body: bytes
    headers: Mapping[str, str]

    def form(self) -> dict[str, str] | None:
        """The body's fields when it is form-encoded, else None."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return None
        return dict(parse_qsl(self.body.decode("latin-1"), keep_blank_values=True))


async def incoming(request: Request) -> Incoming:
    query = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
    return Incoming(query=query, body=await request.body(), headers=request.headers)


class Query:
    """The query parameters of one request; unknown, repeated or empty parameters are refused.

    assumption: a repeated or empty parameter is an invalid input (Cliq's behaviour is undocumented).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]], allowed: Iterable[str]) -> None:
        permitted = set(allowed)
        self.values: dict[str, str] = {}
        for name, value in pairs:
            if name not in permitted:
                raise invalid_inputs(f"The parameter '{name}' is not supported here.")
            if name in self.values:
                raise invalid_inputs(f"The parameter '{name}' is given more than once.")
            if value == "":
                raise invalid_inputs(f"The parameter '{name}' has an empty value.")
            self.values[name] = value

    def get(self, name: str, *, max_length: int = 1000) -> str | None:
        value = self.values.get(name)
        if value is not None and len(value) > max_length:
            raise invalid_inputs(f"The parameter '{name}' is longer than {max_length} characters.")
        return value

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        value = self.values.get(name)
        if value is None:
            return default
        if not DIGITS.fullmatch(value) or not low <= int(value) <= high:
            raise invalid_inputs(f"The parameter '{name}' must be an integer from {low} to {high}.")
        return int(value)

    def epoch_ms(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,16}", value):
            raise invalid_inputs(f"The parameter '{name}' must be a time in epoch milliseconds.")
        return int(value)

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return None
        if value not in BOOLEANS:
            raise invalid_inputs(f"The parameter '{name}' must be true or false.")
        return BOOLEANS[value]

    def csv(
        self,
        name: str,
        *,
        max_items: int,
        choices: Iterable[str] | None = None,
        digits: bool = False,
    ) -> list[str] | None:
        value = self.values.get(name)
        if value is None:
            return None
        items = value.split(",")
        allowed = set(choices) if choices is not None else None
        if len(items) > max_items:
            raise invalid_inputs(f"The parameter '{name}' takes at most {max_items} values.")
        for item in items:
            if item == "" or (allowed is not None and item not in allowed):
                raise invalid_inputs(f"The parameter '{name}' has an invalid value '{item}'.")
            if digits and not DIGITS.fullmatch(item):
                raise invalid_inputs(f"The parameter '{name}' must list numeric ids; got '{item}'.")
        return items


def json_object(rec: Incoming) -> dict[str, Any]:
    """The request body as a JSON object; the content type must say JSON."""
    content_type = rec.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise invalid_inputs("The request body must be JSON (Content-Type: application/json).")
    try:
        body = json.loads(rec.body)
    except ValueError:
        raise invalid_inputs("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_inputs("The request body must be a JSON object.")
    return body


def no_body(rec: Incoming) -> None:
    if rec.body or rec.headers.get("transfer-encoding"):
        raise invalid_inputs("This request takes no body.")


def check_fields(body: dict[str, Any], required: Sequence[str], optional: Sequence[str] = ()) -> None:
    for name in required:
        if name not in body:
            raise param_missing(name)
    extra = sorted(set(body) - set(required) - set(optional))
    if extra:
        raise invalid_inputs(f"Unexpected field(s): {', '.join(extra)}.")


def text(body: dict[str, Any], name: str, max_length: int) -> str:
    value = body[name]
    if not isinstance(value, str) or not value.strip():
        raise invalid_inputs(f"'{name}' must be a non-empty string.")
    if len(value) > max_length:
        raise invalid_inputs(f"'{name}' is longer than {max_length} characters.")
    return value


def choice(body: dict[str, Any], name: str, choices: Sequence[str]) -> str:
    value = body[name]
    if value not in choices:
        raise invalid_inputs(f"'{name}' must be one of: {', '.join(choices)}.")
    return str(value)


def id_value(value: Any, name: str) -> str:
    """A numeric id written as a JSON string (the API's ids are strings, never numbers)."""
    if not isinstance(value, str) or not DIGITS.fullmatch(value):
        raise invalid_inputs(f"'{name}' must be a numeric id as a string.")
    return value


def id_list(body: dict[str, Any], name: str, low: int, high: int) -> list[str]:
    value = body[name]
    if not isinstance(value, list):
        raise invalid_inputs(f"'{name}' must be an array of ids.")
    if not low <= len(value) <= high:
        raise invalid_inputs(f"'{name}' must hold {low} to {high} ids.")
    return [id_value(item, name) for item in value]


def known_users(user_ids: Iterable[str], users: Iterable[str]) -> None:
    unknown = sorted(set(user_ids) - set(users))
    if unknown:
        raise invalid_inputs(f"Unknown user id(s): {', '.join(unknown)}.")


def object_list(body: dict[str, Any], name: str, low: int, high: int) -> list[dict[str, Any]]:
    value = body[name]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise invalid_inputs(f"'{name}' must be an array of objects.")
    if not low <= len(value) <= high:
        raise invalid_inputs(f"'{name}' must hold {low} to {high} entries.")
    return value


def boolean(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise invalid_inputs(f"'{name}' must be true or false.")
    return value
