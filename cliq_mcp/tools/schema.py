"""Schemas as a model reads them, from the input and output models: compact input schemas (no titles, nothing the
server checks anyway), and output schemas cut to an outline. ``cliq-mcp schemas`` writes them to files; the server
serves the same (from ``tool_schemas.json``)."""

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema


class CompactSchema(GenerateJsonSchema):
    """JSON Schema without what costs a model tokens and tells it nothing: no titles, and an optional
    field (``X | None = None``) is shown as plain ``X`` left out of ``required``. An explicit null is
    still accepted when validating."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> "JsonSchemaValue":
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> "JsonSchemaValue":
        result = super().default_schema(schema)
        if result.get("default") is None:
            result.pop("default", None)
        return result

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> "JsonSchemaValue":
        result = super().generate(schema, mode=mode)
        if mode == "validation":
            _prune(result)
        result.pop("title", None)
        for definition in result.get("$defs", {}).values():
            definition.pop("title", None)
        return result


# What an input schema need not tell a model, as the server checks it and the descriptions or the
# instructions say it: formats as regular expressions, string lengths, "no other keys", a list's minimum of
# one item, and defaults of false.
UNSAID = ("pattern", "maxLength", "minLength", "minItems", "additionalProperties")


def _prune(node: Any) -> None:
    if isinstance(node, dict):
        for key in UNSAID:
            if key in node and not isinstance(node[key], dict):
                node.pop(key)
        if node.get("default") is False:
            node.pop("default")
        for value in node.values():
            _prune(value)
    elif isinstance(node, list):
        for value in node:
            _prune(value)


def json_schema(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    schema = model.model_json_schema(schema_generator=CompactSchema, mode=mode)
    schema.pop("description", None)  # the docstring is already the tool's description
    return schema


def outline(schema: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """An output schema cut to what a program needs to read the answer: each field's JSON type, and the
    fields of nested objects and list items one level down; no descriptions, no shared definitions.
    Every tool's schema is sent with every tools/list, so the full nesting would cost more than it tells."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def shape(node: dict[str, Any], level: int) -> dict[str, Any]:
        node = resolve(node)
        kind = node.get("type")
        if kind == "array":
            return {"type": "array", "items": shape(node.get("items", {}), level)}
        if kind == "object" and "properties" in node:
            if level >= depth:
                return {"type": "object"}
            result: dict[str, Any] = {
                "type": "object",
                "properties": {k: shape(v, level + 1) for k, v in node["properties"].items()},
            }
            if node.get("required"):
                result["required"] = node["required"]
            return result
        return {"type": kind} if kind else {}

    return shape(schema, 0)
