"""Unit tests of apps.common: input validation, errors, settings, SQL text and cpu work."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from apps.common import errors, settings, sql
from apps.common.cpu import hash_chain
from apps.common.errors import ApiError
from apps.common.validation import (
    MAX_ITEM_ID,
    ItemIn,
    parse_cpu_n,
    parse_item_body,
    parse_item_id,
    parse_limit_offset,
    parse_ms,
    parse_query_int,
)

CT = "application/json"


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def api_error(raw: bytes, content_type: str | None = CT) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_item_body(raw, content_type)
    return caught.value


# ---- item bodies: accepted ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (body({"name": "a", "price": 1}), ItemIn("a", 1.0, None)),
        (body({"name": "a", "price": 0}), ItemIn("a", 0.0, None)),
        (body({"name": "a", "price": 1e9}), ItemIn("a", 1e9, None)),
        (body({"name": "a", "price": 2.5, "description": None}), ItemIn("a", 2.5, None)),
        (body({"name": "a", "price": 2.5, "description": ""}), ItemIn("a", 2.5, "")),
        (body({"name": "n" * 100, "price": 1, "description": "d" * 1000}),
         ItemIn("n" * 100, 1.0, "d" * 1000)),
        (body({"name": "é€😀", "price": 1}), ItemIn("é€😀", 1.0, None)),
        (b'{"name": "first", "name": "last", "price": 1}', ItemIn("last", 1.0, None)),
        (b' \n{"name":"ws","price":1}\n ', ItemIn("ws", 1.0, None)),
    ],
)  # fmt: skip
def test_valid_item_bodies(raw: bytes, expected: ItemIn) -> None:
    item = parse_item_body(raw, CT)
    assert item == expected
    assert isinstance(item.price, float)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8",
     "Application/Json ;charset=UTF-8"],
)  # fmt: skip
def test_json_content_types_accepted(content_type: str) -> None:
    assert parse_item_body(body({"name": "a", "price": 1}), content_type).name == "a"


def test_body_of_exactly_the_limit_is_accepted() -> None:
    raw = body({"name": "a", "price": 1})
    raw = raw[:-1] + b" " * (settings.MAX_BODY_BYTES - len(raw)) + b"}"
    assert len(raw) == settings.MAX_BODY_BYTES
    assert parse_item_body(raw, CT).name == "a"


# ---- item bodies: refused, with the status the contract gives ----------------------


def test_oversized_body_is_413_before_anything_else() -> None:
    raw = b"x" * (settings.MAX_BODY_BYTES + 1)
    exc = api_error(raw, "text/plain")
    assert (exc.status, exc.code) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/jsonx", "application/vnd.api+json",
     "application/x-www-form-urlencoded", "json", "text/json"],
)  # fmt: skip
def test_non_json_content_type_is_415_even_with_malformed_body(content_type: str | None) -> None:
    exc = api_error(b"{not json", content_type)
    assert (exc.status, exc.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"name": "a", "price": 1,}', b"{'name': 'a'}", b'{"name":"\xff","price":1}',
     b"\xef\xbb\xbf{}", b'{"name":"a","price":NaN}', b'{"name":"a","price":Infinity}',
     b'{"name":"a","price":-Infinity}', b"[" * 100_00 + b"]" * 100_00, b"nul"],
)  # fmt: skip
def test_malformed_json_or_utf8_is_400_even_if_also_invalid(raw: bytes) -> None:
    exc = api_error(raw)
    assert (exc.status, exc.code) == (400, "bad_request")


@pytest.mark.parametrize(
    "value",
    [
        [1, 2], "str", 3, None, True,
        {}, {"name": "a"}, {"price": 1},
        {"name": "a", "price": 1, "extra": 1},
        {"name": "", "price": 1}, {"name": "n" * 101, "price": 1}, {"name": 5, "price": 1},
        {"name": None, "price": 1}, {"name": ["a"], "price": 1},
        {"name": "a", "price": True}, {"name": "a", "price": False}, {"name": "a", "price": "1"},
        {"name": "a", "price": None}, {"name": "a", "price": -0.01}, {"name": "a", "price": -1},
        {"name": "a", "price": 1e9 + 1}, {"name": "a", "price": 10**30},
        {"name": "a", "price": [1]}, {"name": "a", "price": {"v": 1}},
        {"name": "a", "price": 1, "description": 5},
        {"name": "a", "price": 1, "description": "d" * 1001},
        {"name": "a\x00b", "price": 1},
    ],
)  # fmt: skip
def test_schema_failures_are_422(value: Any) -> None:
    exc = api_error(body(value))
    assert (exc.status, exc.code) == (422, "validation_error")


@pytest.mark.parametrize(
    "raw",
    [b'{"name":"a","price":1e400}', b'{"name":"a","price":-1e400}',
     b'{"name":"a","price":' + b"9" * 5000 + b"}", b'{"name":"a","price":' + b"9" * 309 + b"}",
     b'{"name":"a","price":' + b"9" * 400 + b"}", b'{"name":"a","price":-' + b"9" * 401 + b"}",
     b'{"name":"\\ud800","price":1}',
     b'{"name":"a","price":1,"description":"\\udfff"}'],
)  # fmt: skip
def test_well_formed_but_unrepresentable_values_are_422(raw: bytes) -> None:
    exc = api_error(raw)
    assert (exc.status, exc.code) == (422, "validation_error")


def test_error_messages_name_the_bad_value() -> None:
    assert "'1'" in api_error(body({"name": "a", "price": "1"})).message
    assert "extra" in api_error(body({"name": "a", "price": 1, "extra": 0})).message
    assert "text/html" in api_error(b"{}", "text/html").message


# ---- query integers and ids --------------------------------------------------------


def test_query_int_default_and_required() -> None:
    assert parse_query_int({}, "limit", default=20, lo=1, hi=100) == 20
    with pytest.raises(ApiError) as caught:
        parse_query_int({}, "ms", default=None, lo=0, hi=10)
    assert caught.value.status == 422 and "required" in caught.value.message


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("10", 10), ("007", 7), ("-0", 0)])
def test_query_int_accepts_decimal_digits(raw: str, value: int) -> None:
    assert parse_query_int({"k": raw}, "k", default=None, lo=0, hi=10) == value


@pytest.mark.parametrize(
    "raw",
    ["abc", "1.5", "", " 1", "1 ", "+1", "1_0", "0x10", "1e3", "٣", "１", "-1", "11",
     "9" * 30, "-" + "9" * 30, "--1"],
)  # fmt: skip
def test_query_int_refuses_everything_else_with_422(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_query_int({"k": raw}, "k", default=5, lo=0, hi=10)
    assert (caught.value.status, caught.value.code) == (422, "validation_error")


def test_contract_query_helpers() -> None:
    assert parse_limit_offset({}) == (20, 0)
    assert parse_limit_offset({"limit": "100", "offset": "5", "other": "x"}) == (100, 5)
    assert parse_ms({"ms": "10000"}) == 10000
    assert parse_cpu_n({"n": "1000000"}) == 1000000
    for params, parse in [
        ({"limit": "0"}, parse_limit_offset),
        ({"limit": "101"}, parse_limit_offset),
        ({"offset": "-1"}, parse_limit_offset),
        ({"ms": "10001"}, parse_ms),
        ({}, parse_ms),
        ({"n": "0"}, parse_cpu_n),
        ({"n": "1000001"}, parse_cpu_n),
    ]:
        with pytest.raises(ApiError):
            parse(params)


@pytest.mark.parametrize(
    ("segment", "expected"),
    [("1", 1), ("42", 42), ("007", 7), (str(MAX_ITEM_ID), MAX_ITEM_ID),
     ("abc", None), ("-1", None), ("0", None), ("1.5", None), ("", None), (" 1", None),
     ("+1", None), ("1a", None), ("٣", None), ("99999999999999999999", None),
     (str(MAX_ITEM_ID + 1), None), ("1/2", None), ("1\n", None)],
)  # fmt: skip
def test_parse_item_id(segment: str, expected: int | None) -> None:
    assert parse_item_id(segment) == expected


# ---- errors, settings, sql, cpu ----------------------------------------------------


def test_error_body_is_compact_and_has_exactly_two_keys() -> None:
    raw = errors.error_body("not_found", "no item 5")
    assert raw == b'{"error":"not_found","message":"no item 5"}'
    exc = errors.method_not_allowed("POST", "/json", ["GET"])
    assert (exc.status, exc.headers) == (405, (("Allow", "GET"),))
    assert json.loads(exc.body()) == {"error": "method_not_allowed", "message": exc.message}
    assert {errors.STATUS_FOR_CODE[c] for c in errors.STATUS_FOR_CODE} == set(
        errors.CODE_FOR_STATUS
    )


def test_settings_defaults_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("DATABASE_URL", "UPSTREAM_URL", "DB_POOL_SIZE"):
        monkeypatch.delenv(key, raising=False)
    loaded = settings.load_settings()
    expected_db = "sqlite:///" + str(Path(tempfile.gettempdir()) / "pywebbench.sqlite3")
    assert loaded == settings.Settings(expected_db, "http://127.0.0.1:8001", 4)
    monkeypatch.setenv("UPSTREAM_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("DB_POOL_SIZE", "9")
    assert settings.load_settings().upstream_url == "http://127.0.0.1:9"
    assert settings.load_settings().db_pool_size == 9


@pytest.mark.parametrize("raw", ["0", "-2", "four", "1.5"])
def test_settings_refuse_bad_pool_size(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", raw)
    with pytest.raises(ValueError, match=raw):
        settings.load_settings()


def test_sql_dialects_share_text_and_differ_only_in_placeholders() -> None:
    lite, pg = sql.sql("sqlite"), sql.sql("postgres")
    assert "%s" not in lite.insert_item and lite.insert_item.count("?") == 3
    assert "?" not in pg.update_item and pg.update_item.count("%s") == 4
    assert pg.select_items.replace("%s", "?") == lite.select_items
    assert "AUTOINCREMENT" in lite.create_items and "BIGSERIAL" in pg.create_items
    assert sql.sql("sqlite", placeholder="%s").select_item.endswith("id = %s")
    with pytest.raises(ValueError, match="mysql"):
        sql.sql("mysql")


def test_database_url_parsing() -> None:
    assert sql.dialect_of("sqlite:////tmp/x.db") == "sqlite"
    assert sql.dialect_of("postgresql://u:p@127.0.0.1/db") == "postgres"
    assert sql.sqlite_path("sqlite:////tmp/x.db") == "/tmp/x.db"
    assert sql.sqlite_path("sqlite:///rel.db") == "rel.db"
    for bad in ("mysql://x", "sqlite://x.db", "sqlite:///:memory:", "sqlite:///"):
        with pytest.raises(ValueError):
            sql.sqlite_path(bad) if bad.startswith("sqlite") else sql.dialect_of(bad)


def test_world_rows_are_deterministic() -> None:
    rows = sql.world_rows()
    assert len(rows) == 10_000 and rows == sql.world_rows()
    assert [r[0] for r in rows] == list(range(1, 10_001))
    assert all(1 <= number <= 10_000 for _, number in rows)
    assert len({number for _, number in rows}) > 5000


def test_hash_chain_is_chained_sha256() -> None:
    one = hashlib.sha256(b"pywebbench").digest()
    three = hashlib.sha256(hashlib.sha256(one).digest()).hexdigest()
    assert hash_chain(1) == one.hex()
    assert hash_chain(3) == three
    assert hash_chain(1000) == hash_chain(1000) != hash_chain(999)
    assert len(hash_chain(7)) == 64
    with pytest.raises(ValueError, match="-1"):
        hash_chain(-1)
