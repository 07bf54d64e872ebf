"""Validate responses against apps/contract/openapi.yaml, the single source of the contract."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
# The document is registered under this URI so that "#/components/..." references inside
# any schema resolve against it.
DOCUMENT_URI = "urn:pywebbench:contract:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Route:
    """One path of the document: its template and a regex matching concrete paths."""

    template: str
    pattern: re.Pattern[str]


@functools.cache
def load_document() -> dict[str, Any]:
    """The parsed OpenAPI document (loaded once per process)."""
    with OPENAPI_PATH.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or "paths" not in document:
        raise ValueError(f"{OPENAPI_PATH} is not an OpenAPI document")
    return document


@functools.cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT202012.create_resource(load_document())
    return Registry().with_resource(DOCUMENT_URI, resource)


@functools.cache
def routes() -> tuple[Route, ...]:
    """Every path template of the document with its matching regex."""
    result = []
    for template in load_document()["paths"]:
        # A path parameter is one non-empty segment: "/items/" does not match "/items/{id}".
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        result.append(Route(template, re.compile(f"^{regex}$")))
    return tuple(result)


def match_path(path: str) -> str | None:
    """The template ("/items/{id}") that a concrete path ("/items/7") belongs to, or None."""
    path = path.split("?", 1)[0]
    for route in routes():
        if route.pattern.match(path):
            return route.template
    return None


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every (METHOD, template, operation) of the document."""
    result = []
    for template, item in load_document()["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                result.append((method.upper(), template, item[method]))
    return result


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve(node: Any, pointer: str) -> tuple[Any, str]:
    """Follow OpenAPI reference objects ({"$ref": "#/..."}) to the object they name."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise ValueError(f"unsupported or circular reference {ref!r} at {pointer}")
        seen.add(ref)
        pointer = ref[1:]
        node = load_document()
        for token in pointer.split("/")[1:]:
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def _response_for(method: str, template: str | None, status: int) -> tuple[Any, str] | str:
    """The response object (and its pointer) for the request, or a reason it is undocumented."""
    paths = load_document()["paths"]
    if template is None:
        if status != 404:
            return f"unknown route must answer 404, not {status}"
        return resolve({"$ref": "#/components/responses/NotFound"}, "")
    if template not in paths:
        return f"{template!r} is not a path of the contract"
    operation = paths[template].get(method.lower())
    if operation is None:
        if status != 405:
            return f"{method} is not defined on {template}: must answer 405, not {status}"
        return resolve({"$ref": "#/components/responses/MethodNotAllowed"}, "")
    responses = operation["responses"]
    key = str(status)
    if key not in responses:
        key = f"{status // 100}XX"
    if key not in responses:
        return f"status {status} is not documented for {method} {template}"
    base = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
    return resolve(responses[key], base)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_binary(media_object: dict[str, Any]) -> bool:
    schema = media_object.get("schema") or {}
    return isinstance(schema, dict) and schema.get("format") == "binary"


def _parse_body(body: Any, media: str) -> tuple[Any, str | None]:
    """Raw bytes/str are decoded (and parsed for JSON); anything else is already parsed."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"body is not UTF-8: {exc}"
    if media == "application/json" and isinstance(body, str):
        try:
            return json.loads(body), None
        except ValueError as exc:
            return None, f"body is not JSON: {exc}"
    return body, None


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=_registry())


def _schema_errors(pointer: str, instance: Any, label: str = "body") -> list[str]:
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, [label, *e.absolute_path]))}: {e.message}" for e in errors]


def _header_errors(response: dict[str, Any], pointer: str, headers: Mapping[str, str]) -> list[str]:
    problems = []
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, spec in response.get("headers", {}).items():
        header, header_pointer = resolve(spec, f"{pointer}/headers/{_escape(name)}")
        value = lowered.get(name.lower())
        if value is None:
            if header.get("required", False):
                problems.append(f"header {name} is required")
            continue
        problems += _schema_errors(f"{header_pointer}/schema", value, f"header {name}")
    return problems


def validate_response(
    method: str,
    path_template: str | None,
    status: int,
    body_json_or_text: Any,
    content_type: str | None,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """Every way the response differs from the contract (an empty list when it conforms).

    path_template is a template of the document (see match_path) or None for an unknown
    route. The body is either already parsed JSON, or raw bytes/str that are parsed
    here when the content type is JSON. headers, when given, are checked too.
    """
    found = _response_for(method, path_template, status)
    if isinstance(found, str):
        return [found]
    response, pointer = found
    content = response.get("content")
    problems = [] if headers is None else _header_errors(response, pointer, headers)
    if not content:
        if body_json_or_text not in (b"", "", None):
            problems.append(f"status {status} must have an empty body")
        return problems
    media = _media_type(content_type)
    if media not in content:
        return [*problems, f"Content-Type {content_type!r} is not one of {sorted(content)}"]
    if _is_binary(content[media]):
        # A binary body (format: binary) has no JSON Schema instance to validate.
        return problems
    instance, error = _parse_body(body_json_or_text, media)
    if error is not None:
        return [*problems, error]
    schema_pointer = f"{pointer}/content/{_escape(media)}/schema"
    return problems + _schema_errors(schema_pointer, instance)
