"""Derive tests/cliq_contract.json from Zoho's OpenAPI document for the Cliq Chats v3 API.

    python scripts/derive_cliq_contract.py ../shared/zoho/chats-v3.openapi.yml > tests/cliq_contract.json

Needs PyYAML (not a dependency of the project: the contract is derived once, reviewed, and committed). It
copies facts, not prose: per operation the method and path, the query parameters (type, enum, maximum,
whether a comma-separated list, what ids they take), the JSON body's variants, and the success answer's
schema, closed to the property names the document shows (in its schemas or its examples): the simulated
workspace may answer no more than that. Where the document contradicts itself or is silent, the choice is
made here, in code, with a comment; the output says it in ``notes``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

KEEP = ("type", "enum", "maximum", "maxItems", "minItems", "maxLength", "format", "required", "items", "properties")


def main(path: str) -> None:
    with open(path, encoding="utf-8") as file:
        doc = yaml.safe_load(file)
    schemas = doc["components"]["schemas"]

    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def compact(node: Any) -> Any:
        """A schema with only the facts that can be checked, every object closed to its properties."""
        node = resolve(node)
        if not isinstance(node, dict):
            return node
        out = {k: compact(v) if k == "items" else v for k, v in node.items() if k in KEEP and k != "properties"}
        if node.get("type") == "object" or "properties" in node:
            out["type"] = "object"
            out["properties"] = {k: compact(v) for k, v in node.get("properties", {}).items()}
            if not node.get("additionalProperties"):
                out["additionalProperties"] = False
        if node.get("type") == "integer" and "maxLength" in node:
            out.pop("maxLength")  # the list's limit says maxLength: 100; its description says "Maximum limit: 100"
            out["maximum"] = node["maxLength"]
        return out

    def widen(schema: dict[str, Any], example: Any) -> None:
        """Property names an example shows but the schema does not list are facts too: allowed there."""
        if not isinstance(example, dict) or schema.get("type") != "object":
            if isinstance(example, list) and schema.get("type") == "array":
                for item in example:
                    widen(schema["items"], item)
            return
        props = schema.setdefault("properties", {})
        for key, value in example.items():
            if key not in props:
                props[key] = _shape(value)
            else:
                widen(props[key], value)

    operations: dict[str, Any] = {}
    for raw_path, item in doc["paths"].items():
        # The document names one path four ways (CHAT_ID, CHAT_ID1..3): one path, the operations merged.
        path = re.sub(r"\{CHAT_ID\d?\}", "{chat_id}", raw_path)
        for method, op in item.items():
            key = f"{method.upper()} {path}"
            entry = operations.setdefault(key, {"query": {}, "bodies": [], "success": {}})
            for param in op.get("parameters", []):
                if param.get("in") == "query":
                    entry["query"][param["name"]] = _query_fact(param)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                entry["bodies"] += _variants(compact(body["schema"]), body.get("examples", {}))
            for status, answer in op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                content = answer.get("content", {}).get("application/json", {})
                shown = [e["value"] for e in (content.get("examples") or {}).values() if isinstance(e, dict)]
                if any("204" in json.dumps(v) and "Response" in json.dumps(v) for v in shown):
                    entry["success"]["204"] = None  # an example of a 200 answer that reads "204 No response"
                shown = [v for v in shown if isinstance(v, dict) and "Response Code" not in v]
                schema = compact(content["schema"]) if "schema" in content else {"type": "object", "properties": {}}
                if "Response Code" in schema.get("properties", {}):  # NoResponse: the document's "no body"
                    entry["success"][status] = None
                    continue
                for value in shown:
                    widen(schema, value)
                entry["success"][status] = schema if schema.get("properties") else None
    chat = _fix_chat(operations, compact, schemas)
    # The chat list's cursor: Zoho's pagination page (cliq_api_notes.md), not this document.
    operations["GET /chats"]["query"]["next_token"] = {"type": "string"}
    operations["GET /chats"]["success"]["200"]["properties"]["next_token"] = {"type": "string"}
    contract = {
        "source": "Zoho Cliq REST API v3, Chats: OpenAPI document chats-v3.openapi.yml (derived by "
        "scripts/derive_cliq_contract.py; facts only)",
        "notes": [
            "PUT /chats/{chat_id}: one path the document names four ways; one body variant per operation value.",
            "Body variants: the keys each of the document's examples shows are required for that variant.",
            "last_message_info: either the examples' shape {message_id, sender, time, content{text}, type} or the "
            "LastMessageInfo schema's {sender_id, message_type, text, time, styles, bot, sender_name}.",
            "GET /chats next_token (query and answer) is from Zoho's pagination page, not this document.",
            "GET /chats limit: the document writes maxLength 100 for an integer; read as maximum 100.",
            "Nothing in the chat object is required: absent means not told.",
        ],
        "$defs": {"chat": chat},
        "operations": _shared(operations, chat),
    }
    json.dump(contract, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def _shape(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": _shape(value[0]) if value else {}}
    if isinstance(value, dict):
        return {"type": "object", "properties": {k: _shape(v) for k, v in value.items()}, "additionalProperties": False}
    return {}


def _query_fact(param: dict[str, Any]) -> dict[str, Any]:
    schema = param.get("schema", {})
    text = param.get("description", "")
    fact: dict[str, Any] = {"type": schema.get("type", "string")}
    if "enum" in schema:
        fact["enum"] = schema["enum"]
    maximum = schema.get("maximum", schema.get("maxLength") if schema.get("type") == "integer" else None)
    if maximum is not None:
        fact["maximum"] = maximum
    if schema.get("type") == "string" and "maxLength" in schema:
        fact["maxLength"] = schema["maxLength"]
    # A field list is comma-separated (said for GET /chats/{id}; the members' `fields` lists its values only).
    if re.search(r"comma-separated|separated by commas", text, re.I) or param["name"] == "fields":
        fact["csv"] = True
    allowed = text.split("Allowed value", 1)[1] if "Allowed value" in text else ""
    values = re.findall(r"<(?:code|b)>([a-z_]+)</(?:code|b)>", allowed)
    if values and "enum" not in fact:
        fact["enum"] = values
    if "#USER_ID" in text or re.search(r"user IDs? to", text):  # the glossary link, or "user IDs to remove"
        fact["ids"] = "user"
    elif "#CHAT_ID" in text:
        fact["ids"] = "chat"
    return fact


def _variants(schema: dict[str, Any], examples: dict[str, Any]) -> list[dict[str, Any]]:
    """One closed schema per example body: the example's keys (and the schema's required ones), its
    discriminator fixed, its keys required; the schema itself when the document gives no example."""
    shown = [e["value"] for e in examples.values() if isinstance(e, dict) and isinstance(e.get("value"), dict)]
    if not shown:
        return [schema]
    variants = []
    for value in shown:
        variant = json.loads(json.dumps(schema))
        keep = set(value) | set(variant.get("required", []))
        variant["properties"] = props = {k: v for k, v in variant["properties"].items() if k in keep}
        for key in ("operation", "chat_type", "action"):
            if key in value and key in props:
                props[key] = {"type": "string", "enum": [value[key]]}
        variant["required"] = sorted(set(variant.get("required", [])) | set(value))
        variants.append(variant)
    return variants


def _fix_chat(operations: dict[str, Any], compact: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The chat object's last_message_info is `object, additionalProperties: true`; the document shows two
    shapes of it (see the notes). Every chat in every answer takes either."""
    examples_shape = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "message_id": {"type": "string"},
            "sender": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "content": {"type": "object", "additionalProperties": False, "properties": {"text": {"type": "string"}}},
            "type": {"type": "string"},
        },
    }
    either = {"anyOf": [examples_shape, compact(schemas["LastMessageInfo"])]}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties", {})
            if "chat_id" in props and "last_message_info" in props:
                props["last_message_info"] = either
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(operations)
    chat = compact(schemas["v3-chat"])
    chat["properties"]["last_message_info"] = either
    return chat


def _shared(node: Any, chat: dict[str, Any]) -> Any:
    """Every chat object exactly as the schema has it, as a reference to the one definition."""
    if node == chat:
        return {"$ref": "#/$defs/chat"}
    if isinstance(node, dict):
        return {k: _shared(v, chat) for k, v in node.items()}
    if isinstance(node, list):
        return [_shared(v, chat) for v in node]
    return node


if __name__ == "__main__":
    main(sys.argv[1])
