"""Hand-written hostile requests and the statuses the contract allows for each.

A target may name the id of an item that exists ({id}) or that id spelt the ways a lenient
parser (int(), str.isdigit(), a regex with $) would still read as that item: each must
answer 404, so a variant that reads it as the item is caught, not excused by a missing id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator

from apps.contract.checks_inputs import padded_body
from apps.contract.checks_static import TRAVERSALS
from apps.contract.schema import load_document

JSON = "application/json"
MAX_BODY = 65536
MIB = 1024 * 1024
VALID_ITEM = b'{"name":"hostile","price":1}'
FORM = b"name=hostile&price=1"
MULTIPART_BOUNDARY = "hostile-boundary"
MULTIPART = (
    f"--{MULTIPART_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="name"\r\n\r\nhostile\r\n'
    f"--{MULTIPART_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="price"\r\n\r\n1\r\n'
    f"--{MULTIPART_BOUNDARY}--\r\n"
).encode()
HUGE_DIGITS = "1" + "0" * 5000  # 10**5000 as text: past Python's 4300-digit int() limit
SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"  # str.isdigit() is True for these, int() refuses them


@dataclass(frozen=True)
class Hostile:
    """One request: target is a path with query, percent-encoded, with {placeholders}."""

    name: str
    method: str
    target: str
    expected: frozenset[int]
    body: bytes = b""
    content_type: str | None = None

    def headers(self) -> dict[str, str]:
        """The headers of the request: its Content-Type, when it has one."""
        return {} if self.content_type is None else {"Content-Type": self.content_type}


def id_spellings(item_id: int) -> dict[str, str]:
    """The placeholders of a target: the item id and lenient spellings of it, percent-encoded."""
    digits = str(item_id)
    if len(digits) < 2:
        raise ValueError(f"item id {item_id} needs two digits to be split by an underscore")

    def spelt(zero: int) -> str:
        return quote("".join(chr(zero + int(d)) for d in digits), safe="")

    return {
        "id": digits,
        "id_hex": f"0x{item_id:x}",
        "id_wide": spelt(0xFF10),  # full-width digits: int() reads them
        "id_arabic": spelt(0x0660),  # Arabic-Indic digits: int() reads them
        "id_super": quote("".join(SUPERSCRIPTS[int(d)] for d in digits), safe=""),
        "id_split": f"{digits[0]}_{digits[1:]}",  # int() reads "1_2" as 12
    }


def offset_past_int64_conforms() -> bool:
    """Whether the document admits offset=2**63 (it has no maximum for offset)."""
    schema = load_document()["components"]["parameters"]["Offset"]["schema"]
    return Draft202012Validator(schema).is_valid(2**63)


def _hostile(name: str, method: str, target: str, expected: set[int], **kwargs: Any) -> Hostile:
    return Hostile(name, method, target, frozenset(expected), **kwargs)


def _nested(depth: int, opener: bytes, closer: bytes) -> bytes:
    return opener * depth + closer * depth


def body_cases() -> list[Hostile]:
    """Oversized, deeply nested, non-UTF-8 and huge-number bodies."""
    post, put = ("POST", "/items"), ("PUT", "/items/{id}")
    cases = []
    for (method, target), label in ((post, "post"), (put, "put")):
        for size, size_name in ((MAX_BODY + 1, "65537"), (MIB, "1mib")):
            body = padded_body(size)
            cases.append(_hostile(f"{label}_body_{size_name}", method, target, {413}, body=body))
    item_too_deep = b'{"name":"x","price":1,"description":' + _nested(10_000, b'{"a":', b"}") + b"}"
    cases += [
        _hostile("post_body_at_limit", *post, {201}, body=padded_body(MAX_BODY)),
        # 100,000 levels take 200,000 bytes: refused by size before any parser sees them.
        _hostile("nested_100k_arrays", *post, {413}, body=_nested(100_000, b"[", b"]")),
        _hostile("nested_100k_objects", *post, {413}, body=_nested(100_000, b'{"a":', b"}")),
        # Deep enough to exhaust a recursive parser yet under the size limit.
        _hostile("nested_30k_arrays", *post, {400, 422}, body=_nested(30_000, b"[", b"]")),
        _hostile("nested_10k_objects", *post, {400, 422}, body=item_too_deep),
        _hostile("utf8_invalid_bytes", *post, {400}, body=b'{"name":"\xff\xfe","price":1}'),
        _hostile("utf8_overlong", *post, {400}, body=b'{"name":"\xc0\xaf","price":1}'),
        _hostile("utf8_surrogate", *post, {400}, body=b'{"name":"\xed\xa0\x80","price":1}'),
        _hostile("utf8_truncated", *post, {400}, body=b'{"name":"\xe2\x82","price":1}'),
        _hostile("put_utf8_invalid", *put, {400}, body=b'{"name":"\xff","price":1}'),
        # json.loads(bytes) would detect UTF-16 and accept it: the contract says UTF-8 only.
        _hostile("utf16_body", *post, {400}, body=VALID_ITEM.decode().encode("utf-16")),
        # A UTF-8 byte order mark: JSON parsers may ignore it or refuse it.
        _hostile("utf8_bom", *post, {201, 400}, body=b"\xef\xbb\xbf" + VALID_ITEM),
        _hostile("price_1e999", *post, {422}, body=b'{"name":"x","price":1e999}'),
        _hostile("price_minus_1e999", *post, {422}, body=b'{"name":"x","price":-1e999}'),
        _hostile("price_1e-999", *post, {201}, body=b'{"name":"x","price":1e-999}'),
        # Valid JSON whose integer Python's parser refuses (over 4300 digits): "cannot
        # parse" (400) and "out of range" (422) both refuse it.
        _hostile(
            "price_10_pow_5000",
            *post,
            {400, 422},
            body=f'{{"name":"x","price":{HUGE_DIGITS}}}'.encode(),
        ),
        _hostile("name_10_pow_5000", *post, {400, 422}, body=f'{{"name":{HUGE_DIGITS}}}'.encode()),
    ]
    return [replace(case, content_type=JSON) for case in cases]


def content_type_cases() -> list[Hostile]:
    """POST and PUT whose Content-Type is not application/json, or is missing."""
    wrong = [
        ("text_plain", "text/plain", VALID_ITEM),
        ("multipart", f"multipart/form-data; boundary={MULTIPART_BOUNDARY}", MULTIPART),
        ("urlencoded", "application/x-www-form-urlencoded", FORM),
        ("missing", None, VALID_ITEM),
        ("jsonp", "application/jsonp", VALID_ITEM),  # "startswith application/json" is wrong
        ("json_patch", "application/json-patch+json", VALID_ITEM),
    ]
    cases = []
    for method, target in (("POST", "/items"), ("PUT", "/items/{id}")):
        for label, ctype, body in wrong:
            name = f"{method.lower()}_ctype_{label}"
            cases.append(_hostile(name, method, target, {415}, body=body, content_type=ctype))
    charset = "application/json; charset=utf-8"
    return [
        *cases,
        _hostile("post_ctype_json_charset", "POST", "/items", {201}, body=VALID_ITEM,
                 content_type=charset),
        _hostile("post_ctype_missing_empty", "POST", "/items", {415}),
        # 413 comes before 415, and 415 before 400.
        _hostile("order_1mib_text_plain", "POST", "/items", {413}, body=b"x" * MIB,
                 content_type="text/plain"),
        _hostile("order_bad_utf8_text_plain", "POST", "/items", {415}, body=b"\xff\xfe",
                 content_type="text/plain"),
    ]  # fmt: skip


PATH_TRICKS = {
    "dotdot_slash": "..%2f{id}",
    "nul": "{id}%00",
    "dotdot": "%2e%2e",
    "trailing_slash": "{id}/",
    "plus": "+{id}",
    "plus_encoded": "%2B{id}",
    "hex": "{id_hex}",
    "fullwidth": "{id_wide}",
    "arabic_indic": "{id_arabic}",
    "superscript": "{id_super}",
    "underscore": "{id_split}",
    "newline": "{id}%0A",
    "leading_space": "%20{id}",
    "decimal_point": "{id}.0",
    "negative": "-{id}",
    "invalid_utf8": "{id}%FF",
    "huge": HUGE_DIGITS,
}


def path_cases() -> list[Hostile]:
    """Item ids with path tricks, for GET, PUT (valid body) and DELETE: all 404."""
    cases = []
    for trick, segment in PATH_TRICKS.items():
        target = f"/items/{segment}"
        cases += [
            _hostile(f"get_id_{trick}", "GET", target, {404}),
            _hostile(f"put_id_{trick}", "PUT", target, {404}, body=VALID_ITEM, content_type=JSON),
            _hostile(f"delete_id_{trick}", "DELETE", target, {404}),
        ]
    return cases


STATIC_TRICKS = {
    "nul": "site.css%00",
    "nul_then_ext": "site.css%00.py",
    "newline": "site.css%0A",
    "invalid_utf8": "site.css%FF",
    "dot": ".",
    "absolute": "%2fetc%2fpasswd",
    "above_root": "..%2f..%2fapps%2fcommon%2fsettings.py",
    "above_root_dots": "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "upper": "SITE.CSS",
    "trailing_dot": "site.css.",
}


def static_cases() -> list[Hostile]:
    """Static file names that leave the directory or only resemble a file: all 404, and a
    POST with a body to a real file 405."""
    tricks = {**{f"traversal_{i}": t for i, t in enumerate(TRAVERSALS)}, **STATIC_TRICKS}
    cases = [_hostile(f"static_{name}", "GET", f"/static/{target}", {404})
             for name, target in tricks.items()]  # fmt: skip
    cases.append(_hostile("static_post", "POST", "/static/site.css", {405}, body=VALID_ITEM,
                          content_type=JSON))  # fmt: skip
    return cases


QUERY_TRICKS = {
    "invalid_utf8": "%FF",
    "1e999": "1e999",
    "huge": HUGE_DIGITS,
    "fullwidth": "%EF%BC%95",
    "arabic_indic": "%D9%A5",
    "superscript": "%C2%B9",
    "leading_space": "%205",
    "newline": "5%0A",
    "plus": "%2B5",
    "underscore": "1_0",
    "hex": "0x5",
}
LONG_QUERY = 100_000


def query_cases() -> list[Hostile]:
    """Query integers spelt so that only a lenient parser reads them (422), and long queries."""
    cases = [_hostile(f"limit_{name}", "GET", f"/items?limit={value}", {422})
             for name, value in QUERY_TRICKS.items()]  # fmt: skip
    for path, key in (("/cpu", "n"), ("/io/sleep", "ms")):
        for name in ("1e999", "huge", "fullwidth", "superscript"):
            target = f"{path}?{key}={QUERY_TRICKS[name]}"
            cases.append(_hostile(f"{key}_{name}", "GET", target, {422}))
    many = "&".join(["a=1"] * (LONG_QUERY // 4))
    cases += [
        # 100 KB of query: unknown parameters are ignored, however long or many.
        _hostile("long_query_value", "GET", f"/items?limit=5&pad={'x' * LONG_QUERY}", {200}),
        _hostile("long_query_many_fields", "GET", f"/items?{many}&limit=5", {200}),
        _hostile("long_query_json", "GET", f"/json?{many}", {200}),
        _hostile("long_query_sleep", "GET", f"/io/sleep?ms=1&pad={'x' * LONG_QUERY}", {200}),
        _hostile("long_query_bad_limit", "GET", f"/items?pad={'x' * LONG_QUERY}&limit=0", {422}),
        _hostile(
            "offset_past_int64",
            "GET",
            f"/items?offset={2**63}",
            {200} if offset_past_int64_conforms() else {422},
        ),
    ]
    return cases


def all_cases() -> list[Hostile]:
    """Every hostile request, names unique."""
    cases = body_cases() + content_type_cases() + path_cases() + query_cases() + static_cases()
    names = [case.name for case in cases]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"hostile case names must be unique: {duplicates}")
    return cases
