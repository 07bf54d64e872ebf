"""The OpenAPI document is sound, and validate_response accepts good and rejects bad bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from apps.contract import schema

# The routes and error codes of the brief, stated a second time on purpose.
ROUTES = {
    ("GET", "/health"),
    ("GET", "/json"),
    ("GET", "/plaintext"),
    ("GET", "/items"),
    ("POST", "/items"),
    ("GET", "/items/{id}"),
    ("PUT", "/items/{id}"),
    ("DELETE", "/items/{id}"),
    ("GET", "/db/query"),
    ("GET", "/io/sleep"),
    ("GET", "/io/upstream"),
    ("GET", "/cpu"),
    ("GET", "/static/{name}"),
}
ERROR_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    502: "bad_gateway",
}
JSON = "application/json"
NOT_FOUND = {"error": "not_found", "message": "m"}
ITEM = {"id": 1, "name": "x", "price": 1.5, "description": None}


def _schemas(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every value under a "schema" key of the document, with its pointer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                yield f"{pointer}/schema", value
            else:
                yield from _schemas(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas(value, f"{pointer}/{index}")


def test_document_is_openapi_3_1() -> None:
    document = schema.load_document()
    assert document["openapi"].startswith("3.1.")
    assert {"title", "version"} <= set(document["info"])


def test_routes_are_the_contract() -> None:
    assert {(method, template) for method, template, _ in schema.operations()} == ROUTES


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in schema.operations()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", sorted(schema.load_document()["components"]["schemas"]))
def test_component_schema_is_valid(name: str) -> None:
    Draft202012Validator.check_schema(schema.load_document()["components"]["schemas"][name])


def test_every_inline_schema_is_valid() -> None:
    found = list(_schemas(schema.load_document()))
    assert len(found) > 20
    for _, value in found:
        Draft202012Validator.check_schema(value)


def _required_errors(template: str, operation: dict[str, Any]) -> set[int]:
    shared = schema.load_document()["paths"][template].get("parameters", [])
    parameters = [schema.resolve(p, "")[0] for p in [*shared, *operation.get("parameters", [])]]
    wanted = set()
    if "requestBody" in operation:
        wanted |= {400, 413, 415, 422}
    if any(p["in"] == "path" for p in parameters):
        wanted.add(404)
    if any(p["in"] == "query" for p in parameters):
        wanted.add(422)
    return wanted


@pytest.mark.parametrize(("method", "template"), sorted(ROUTES))
def test_operation_documents_its_error_responses(method: str, template: str) -> None:
    operation = schema.load_document()["paths"][template][method.lower()]
    documented = {int(code) for code in operation["responses"]}
    assert _required_errors(template, operation) <= documented
    for code in documented - {200, 201, 204}:
        response, _ = schema.resolve(operation["responses"][str(code)], "")
        body = response["content"]["application/json"]["schema"]
        assert body["allOf"][0] == {"$ref": "#/components/schemas/Error"}
        assert body["allOf"][1]["properties"]["error"]["const"] == ERROR_CODES[code]


def test_error_enum_is_the_contract_codes() -> None:
    error = schema.load_document()["components"]["schemas"]["Error"]
    assert set(error["properties"]["error"]["enum"]) == set(ERROR_CODES.values())
    assert error["additionalProperties"] is False
    assert set(error["required"]) == {"error", "message"}


def test_item_in_refuses_unknown_keys() -> None:
    item_in = schema.load_document()["components"]["schemas"]["ItemIn"]
    assert item_in["additionalProperties"] is False
    validator = Draft202012Validator(item_in)
    assert validator.is_valid({"name": "x", "price": 0})
    for bad in (
        {"name": "x", "price": 1, "extra": 1},
        {"name": "", "price": 1},
        {"name": "x", "price": True},
        {"name": "x", "price": "1"},
        {"name": "x", "price": -1},
        {"name": "x", "price": 1e9 + 1},
        {"name": "x", "price": 1, "description": "d" * 1001},
        {"price": 1},
    ):
        assert not validator.is_valid(bad), bad


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/items/7", "/items/{id}"),
        ("/items/abc", "/items/{id}"),
        ("/items", "/items"),
        ("/items?limit=2", "/items"),
        ("/items/", None),
        ("/items/1/extra", None),
        ("/json/", None),
        ("/nope", None),
    ],
)
def test_match_path(path: str, template: str | None) -> None:
    assert schema.match_path(path) == template


@pytest.mark.parametrize(
    ("method", "template", "status", "body", "content_type"),
    [
        ("GET", "/json", 200, b'{"message":"Hello, World!"}', "application/json"),
        ("GET", "/plaintext", 200, b"Hello, World!", "text/plain; charset=utf-8"),
        ("POST", "/items", 201, ITEM, "application/json"),
        ("GET", "/items", 200, [ITEM, {**ITEM, "id": 2, "description": "d"}], "application/json"),
        ("DELETE", "/items/{id}", 204, b"", None),
        ("GET", "/items/{id}", 404, {"error": "not_found", "message": "m"}, "application/json"),
        (
            "DELETE",
            "/json",
            405,
            {"error": "method_not_allowed", "message": "m"},
            "application/json",
        ),
        ("GET", None, 404, {"error": "not_found", "message": "m"}, "application/json"),
        ("GET", "/db/query", 200, {"id": 10000, "randomNumber": 1}, "application/json"),
    ],
)
def test_validate_response_accepts(
    method: str, template: str | None, status: int, body: Any, content_type: str | None
) -> None:
    assert schema.validate_response(method, template, status, body, content_type) == []


@pytest.mark.parametrize(
    ("method", "template", "status", "body", "content_type", "fragment"),
    [
        ("GET", "/json", 200, b'{"message":"Hello"}', "application/json", "was expected"),
        ("GET", "/json", 200, b'{"message":"Hello, World!"}', "text/plain", "Content-Type"),
        ("GET", "/json", 200, b"{not json", "application/json", "not JSON"),
        ("GET", "/json", 500, b"{}", "application/json", "not documented"),
        ("GET", "/plaintext", 200, b"Hello", "text/plain", "was expected"),
        ("POST", "/items", 201, {**ITEM, "price": "1.5"}, "application/json", "price"),
        ("POST", "/items", 201, {**ITEM, "extra": 1}, "application/json", "extra"),
        ("GET", "/items", 200, [ITEM] * 101, "application/json", "too long"),
        ("GET", "/items/{id}", 200, {**ITEM, "id": 0}, "application/json", "id"),
        ("DELETE", "/items/{id}", 204, b"{}", "application/json", "empty body"),
        ("GET", "/items/{id}", 404, {**NOT_FOUND, "error": "bad_request"}, JSON, "not_found"),
        ("GET", "/items/{id}", 404, {"error": "not_found"}, "application/json", "message"),
        ("GET", "/items/{id}", 404, {**NOT_FOUND, "message": ""}, JSON, "non-empty"),
        ("GET", "/db/query", 200, {"id": 10001, "randomNumber": 1}, "application/json", "maximum"),
        ("GET", "/cpu", 200, {"n": 1, "digest": "XYZ"}, "application/json", "digest"),
        ("PATCH", "/items/{id}", 200, ITEM, "application/json", "must answer 405"),
        ("GET", None, 200, {}, "application/json", "must answer 404"),
    ],
)
def test_validate_response_rejects(
    method: str,
    template: str | None,
    status: int,
    body: Any,
    content_type: str | None,
    fragment: str,
) -> None:
    problems = schema.validate_response(method, template, status, body, content_type)
    assert any(fragment in problem for problem in problems), problems


def test_validate_response_checks_the_location_header() -> None:
    good = schema.validate_response(
        "POST", "/items", 201, ITEM, "application/json", {"Location": "/items/1"}
    )
    assert good == []
    missing = schema.validate_response("POST", "/items", 201, ITEM, "application/json", {})
    assert missing == ["header Location is required"]
    wrong = schema.validate_response(
        "POST", "/items", 201, ITEM, "application/json", {"location": "/things/1"}
    )
    assert len(wrong) == 1
    assert "does not match" in wrong[0]
