"""Zoho's Chats v3 document as a check: does a request, or an answer, keep to it?

``cliq_contract.json`` holds the facts (derived from Zoho's OpenAPI document by
``scripts/derive_cliq_contract.py``): per operation, the query parameters, the JSON body's variants and the
success answer's schema, closed to the names the document shows. ``request_breaches`` and
``answer_breaches`` say, in words, where something departs from it (empty: it keeps to it). The simulated
Cliq's recorder runs both on every request of the suite (simulated_cliq.observed), and
tests/test_contract.py runs the first on every request every catalogue row can build.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

CONTRACT: dict[str, Any] = json.loads((Path(__file__).parent / "cliq_contract.json").read_text())
BASE = "/api/v3"
# Requests the tests make that Zoho's Chats v3 document does not describe: the v2 Users API (tools/people.py) and
# the accounts server. They are named here so that nothing else can pass unchecked.
OUTSIDE = ("/api/v2/users", "/oauth/v2/token")
CHAT_ID = re.compile(r"[0-9]{1,24}")  # the document's chat ids are digit strings
USER_ID = re.compile(r"[0-9]{1,24}")

_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value
    ):
        raise ValueError("not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented operation a request is for (literal segments before ``{chat_id}``), or None."""
    if not path.startswith(BASE + "/"):
        return None
    rest = path[len(BASE) :]
    best: tuple[int, str] | None = None
    for key in CONTRACT["operations"]:
        m, template = key.split(" ", 1)
        if m != method:
            continue
        pattern = "^" + re.escape(template).replace(r"\{chat_id\}", "(?P<chat_id>[^/]+)") + "$"
        if re.match(pattern, rest):
            literal = template.count("/") - template.count("{")
            if best is None or literal > best[0]:
                best = (literal, key)
    return (best[1], CONTRACT["operations"][best[1]]) if best else None


_VALIDATORS: dict[int, Draft202012Validator] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """One validator per schema of the contract (they never change): the suite checks every answer."""
    found = _VALIDATORS.get(id(schema))
    if found is None:  # the shared definitions put in place: resolving a $ref for every chat is slow
        found = _VALIDATORS[id(schema)] = Draft202012Validator(_inlined(schema), format_checker=_formats)
    return found


def _inlined(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return _inlined(CONTRACT["$defs"][node["$ref"].rsplit("/", 1)[-1]])
        return {k: _inlined(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v) for v in node]
    return node


def _schema_breaches(schema: dict[str, Any], value: Any, what: str) -> list[str]:
    validator = _validator(schema)
    if validator.is_valid(value):
        return []
    return [f"{what}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:160]}"
            for e in validator.iter_errors(value)]  # fmt: skip


def _value_breaches(name: str, value: str, fact: dict[str, Any]) -> list[str]:
    values = value.split(",") if fact.get("csv") or (fact.get("ids") and name.endswith("s")) else [value]
    problems = []
    for item in values:
        if fact["type"] == "integer":
            if not re.fullmatch(r"[0-9]{1,16}", item):
                problems.append(f"query {name}={item!r} is not an integer")
            elif "maximum" in fact and int(item) > fact["maximum"]:
                problems.append(f"query {name}={item} is above the maximum {fact['maximum']}")
        elif fact["type"] == "boolean" and item not in ("true", "false"):
            problems.append(f"query {name}={item!r} is not true or false")
        if "enum" in fact and item not in fact["enum"]:
            problems.append(f"query {name}={item!r} is not one of {fact['enum']}")
        if fact.get("ids") == "chat" and not CHAT_ID.fullmatch(item):
            problems.append(f"query {name} holds {item!r}, not a chat id")
        if fact.get("ids") == "user" and not USER_ID.fullmatch(item):
            problems.append(f"query {name} holds {item!r}, not a user id")
    if "maxLength" in fact and len(value) > fact["maxLength"]:
        problems.append(f"query {name} is longer than {fact['maxLength']}")
    return problems


def request_breaches(method: str, path: str, query: list[tuple[str, str]], body: bytes) -> list[str]:
    """How a request departs from the document (path, method, query names and values, body keys and values)."""
    if path.startswith(OUTSIDE):
        return []
    found = operation(method, path)
    if found is None:
        return [f"{method} {path} is not an operation of the document"]
    key, op = found
    problems = []
    names = [name for name, _ in query]
    problems += [f"{key}: query {n!r} given twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for name, value in query:
        fact = op["query"].get(name)
        if fact is None:
            problems.append(f"{key}: query {name!r} is not a parameter of it")
        else:
            problems += [f"{key}: {p}" for p in _value_breaches(name, value, fact)]
    if "{chat_id}" in key:
        segment = path[len(BASE) :].split("/")[2]
        if not CHAT_ID.fullmatch(segment):
            problems.append(f"{key}: the path's chat id {segment!r} is not a chat id")
    if not op["bodies"]:
        if body:
            problems.append(f"{key} takes no body")
        return problems
    try:
        sent = json.loads(body)
    except ValueError:
        return [*problems, f"{key}: the body is not JSON"]
    if not any(_validator(v).is_valid(sent) for v in op["bodies"]):
        closest = min(op["bodies"], key=lambda v: len(list(_validator(v).iter_errors(sent))))
        problems += [f"{key} body: {p}" for p in _schema_breaches(closest, sent, "fits no variant")]
    return problems


def answer_breaches(method: str, path: str, status: int, body: bytes) -> list[str]:
    """How a success answer departs from the document's schema for it (an error answer: from Cliq's error
    shapes, flat ``{message, code?}`` or, for search, nested ``{error: {code, message}}``)."""
    if path.startswith(OUTSIDE):
        return []
    found = operation(method, path)
    if found is None:
        return []  # the request already failed the check
    return list(_answer_breaches(found[0], status, body))  # the same answer (the seed's pages) is checked once


@functools.lru_cache(maxsize=4096)
def _answer_breaches(key: str, status: int, body: bytes) -> tuple[str, ...]:
    return tuple(_checked_answer(key, status, body))


def _checked_answer(key: str, status: int, body: bytes) -> list[str]:
    op = CONTRACT["operations"][key]
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        return [f"{key} {status}: the answer is not JSON"]
    if status >= 400:
        nested = key == "GET /chats/search"
        shape = {"error": {"code": str, "message": str}} if nested else {"message": str, "code": str}
        if not isinstance(answer, dict) or set(answer) - set(shape) or ("error" if nested else "message") not in answer:
            return [f"{key} {status}: the error answer is not Cliq's {'nested' if nested else 'flat'} shape"]
        return []
    documented = op["success"]
    if str(status) not in documented and not (status in (200, 204) and all(v is None for v in documented.values())):
        return [f"{key}: status {status} is not one of its documented successes {sorted(documented)}"]
    schema = documented.get(str(status))
    if schema is None:
        return [f"{key} {status}: a body where the document shows none"] if answer not in (None, {}) else []
    return [f"{key} {status}: {p}" for p in _schema_breaches(schema, answer, "answer")]
