"""Contract checks of bad request bodies: 400, 413, 415 and 422, and their order."""

from __future__ import annotations

from apps.contract.items import create
from apps.contract.probe import JSON, Check, Session, check, encode

MAX_BODY = 65536


def _post(s: Session, body: bytes, expect: int | tuple[int, ...], ctype: str | None = JSON) -> None:
    s.probe("POST", "/items", expect=expect, body=body, content_type=ctype)


def padded_body(size: int, name: str = "padded") -> bytes:
    """A valid item body of exactly size bytes (JSON whitespace as padding)."""
    core = encode({"name": name, "price": 1})
    if size < len(core) + 2:
        raise ValueError(f"size {size} is below the {len(core) + 2} bytes of the body")
    return core[:-1] + b" " * (size - len(core)) + b"}"


@check()
def malformed_json(s: Session) -> None:
    for body in (
        b'{"name": "x", "price": ',
        b"{name: x}",
        b"",
        b"{'name': 'x', 'price': 1}",
        b'{"name":"x","price":1}}',
        b'{"name":"x","price":01}',
    ):
        _post(s, body, 400)


@check()
def invalid_utf8(s: Session) -> None:
    _post(s, b'{"name":"\xff\xfe","price":1}', 400)
    _post(s, b'{"name":"caf\xe9","price":1}', 400)


@check()
def non_object_json(s: Session) -> None:
    for body in (b"[]", b'["x", 1]', b'"item"', b"5", b"null", b"true"):
        _post(s, body, 422)


@check()
def missing_fields(s: Session) -> None:
    for item in ({"price": 1}, {"name": "x"}, {}, {"description": "only"}):
        _post(s, encode(item), 422)


@check()
def wrong_types(s: Session) -> None:
    for item in (
        {"name": 123, "price": 1},
        {"name": None, "price": 1},
        {"name": ["x"], "price": 1},
        {"name": "x", "price": "1"},
        {"name": "x", "price": True},
        {"name": "x", "price": None},
        {"name": "x", "price": [1]},
        {"name": "x", "price": {"amount": 1}},
        {"name": "x", "price": 1, "description": 5},
        {"name": "x", "price": 1, "description": False},
        {"name": "x", "price": 1, "description": ["d"]},
    ):
        _post(s, encode(item), 422)


@check()
def name_length(s: Session) -> None:
    _post(s, encode({"name": "", "price": 1}), 422)
    _post(s, encode({"name": "n" * 101, "price": 1}), 422)


@check()
def description_length(s: Session) -> None:
    _post(s, encode({"name": "x", "price": 1, "description": "d" * 1001}), 422)


@check()
def price_range(s: Session) -> None:
    for price in (b"-1", b"-0.01", b"1000000000.5", b"1e10", b"1e400", b"-1e400"):
        _post(s, b'{"name":"x","price":' + price + b"}", 422)


@check()
def price_huge_integer(s: Session) -> None:
    # An integer too large for a float: out of range (422), not an OverflowError (500).
    for digits in (20, 400):
        _post(s, b'{"name":"x","price":' + b"9" * digits + b"}", 422)


@check()
def price_not_finite(s: Session) -> None:
    # Not JSON at all (400), or JSON-ish numbers that are not finite (422): both fine.
    for price in (b"NaN", b"Infinity", b"-Infinity"):
        _post(s, b'{"name":"x","price":' + price + b"}", (400, 422))


@check()
def unknown_keys(s: Session) -> None:
    _post(s, encode({"name": "x", "price": 1, "colour": "red"}), 422)
    _post(s, encode({"id": 5, "name": "x", "price": 1}), 422)


@check()
def lone_surrogate(s: Session) -> None:
    # Valid JSON escapes that decode to text UTF-8 cannot encode: refused, never a 5xx.
    _post(s, b'{"name":"\\ud800","price":1}', (400, 422))


@check()
def deeply_nested_json(s: Session) -> None:
    # Deep enough to exhaust a recursive parser: refused, never a 5xx.
    depth = 20000
    _post(s, b"[" * depth + b"]" * depth, (400, 422))
    _post(
        s, b'{"name":"x","price":1,"description":' + b"[" * depth + b"]" * depth + b"}", (400, 422)
    )


@check()
def body_too_large(s: Session) -> None:
    # Not much larger: a server may close the connection after an early 413, and a body
    # that no longer fits in the socket buffers would then fail to send.
    _post(s, padded_body(MAX_BODY + 1), 413)


@check()
def body_at_limit_accepted(s: Session) -> None:
    response = s.call("POST", "/items", expect=201, body=padded_body(MAX_BODY), content_type=JSON)
    item = s.json(response)
    s.expect(item.get("name") == "padded", f"name {item.get('name')!r}")


@check()
def wrong_content_type(s: Session) -> None:
    valid = encode({"name": "x", "price": 1})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", None):
        _post(s, valid, 415, ctype)


@check()
def put_wrong_content_type(s: Session) -> None:
    item = create(s, {"name": "typed", "price": 1})
    valid = encode({"name": "x", "price": 1})
    s.probe("PUT", f"/items/{item['id']}", expect=415, body=valid, content_type="text/plain")
    s.probe("PUT", f"/items/{item['id']}", expect=415, body=valid, content_type=None)


@check()
def error_order(s: Session) -> None:
    # 413 before 415 before 400 before 422.
    _post(s, b"x" * (MAX_BODY + 1), 413, "text/plain")
    _post(s, b"{not json", 415, "text/plain")
    _post(s, b'{"name": 5, "price": ', 400)


INPUT_CHECKS: tuple[Check, ...] = (
    malformed_json,
    invalid_utf8,
    non_object_json,
    missing_fields,
    wrong_types,
    name_length,
    description_length,
    price_range,
    price_huge_integer,
    price_not_finite,
    unknown_keys,
    lone_surrogate,
    deeply_nested_json,
    body_too_large,
    body_at_limit_accepted,
    wrong_content_type,
    put_wrong_content_type,
    error_order,
)
