"""One request sent through an in-process client, and what the contract says about its answer.

Both fuzz test modules send through here, so "no 5xx, the schema of the status, the error
shape" is judged the same way for generated and for hand-written hostile requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from apps.contract.schema import load_document, match_path, validate_response

# The error code that goes with each 4xx/5xx status (the contract's table, written out here
# rather than imported from apps.common so that the apps cannot agree with themselves).
CODE_FOR_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    502: "bad_gateway",
}
# Longer targets and bodies are cut in reproducers (their full length is given).
SHOWN_LIMIT = 300
# The document: "HEAD and OPTIONS need not be supported" - a variant may answer them (Flask
# and DRF do, with 200) or refuse them with 405; schema.validate_response knows only the 405.
OPTIONAL_METHODS = frozenset({"HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Exchange:
    """A request exactly as sent (raw path with its query) and the response to it."""

    variant: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int
    response_headers: httpx.Headers
    response_body: bytes

    def reproducer(self) -> str:
        """The request in a form that can be replayed by hand, with the answer it got."""
        target = _shorten(self.target, f" ... ({len(self.target)} characters)")
        body = _shorten(self.body, f" ... ({len(self.body)} bytes)")
        answer = _shorten(self.response_body, " ...")
        return (
            f"variant={self.variant} {self.method} {target} headers={dict(self.headers)} "
            f"body={body} -> {self.status} {answer}"
        )


def _shorten(value: str | bytes, more: str) -> str:
    if len(value) <= SHOWN_LIMIT:
        return value if isinstance(value, str) else repr(value)
    head = value[:SHOWN_LIMIT]
    return (head if isinstance(head, str) else repr(head)) + more


def send(
    client: httpx.Client,
    variant: str,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> Exchange:
    """Send one request; target is a path with query, percent-encoded, sent as it is."""
    request = client.build_request(method, target, headers=headers, content=body or None)
    response = client.send(request)
    sent = request.url.raw_path.decode("ascii")
    return Exchange(
        variant=variant,
        method=method,
        target=sent,
        headers=tuple((name, value) for name, value in (headers or {}).items()),
        body=body,
        status=response.status_code,
        response_headers=response.headers,
        response_body=response.content,
    )


def error_shape_problems(exchange: Exchange) -> list[str]:
    """For a 4xx/5xx: the body must be exactly {"error": code-of-the-status, "message": text}."""
    status = exchange.status
    if status < 400:
        return []
    try:
        document = json.loads(exchange.response_body)
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{status} body is not JSON ({exc})"]
    if not isinstance(document, dict) or set(document) != {"error", "message"}:
        return [f"{status} body is not exactly {{error, message}}: {document!r}"]
    problems = []
    expected = CODE_FOR_STATUS.get(status)
    if document["error"] != expected:
        problems.append(f"{status} carries error {document['error']!r}, expected {expected!r}")
    message = document["message"]
    if not isinstance(message, str) or not message:
        problems.append(f"{status} message must be a non-empty string, got {message!r}")
    return problems


def _optional_method(method: str, template: str | None) -> bool:
    """A HEAD or OPTIONS the document does not define on a path it does define."""
    if method not in OPTIONAL_METHODS or template is None:
        return False
    return method.lower() not in load_document()["paths"][template]


def contract_problems(exchange: Exchange) -> list[str]:
    """Every way the exchange breaks the contract (empty when it conforms)."""
    problems = []
    if exchange.status >= 500:
        problems.append(f"server error {exchange.status}")
    template = match_path(exchange.target)
    if exchange.status < 400 and _optional_method(exchange.method, template):
        return problems
    problems += validate_response(
        exchange.method,
        template,
        exchange.status,
        exchange.response_body,
        exchange.response_headers.get("content-type"),
        exchange.response_headers,
    )
    return problems + error_shape_problems(exchange)


def assert_conforms(exchange: Exchange) -> None:
    """Fail with the reproducer when the exchange breaks the contract."""
    problems = contract_problems(exchange)
    assert not problems, "; ".join(problems) + "\n  " + exchange.reproducer()
