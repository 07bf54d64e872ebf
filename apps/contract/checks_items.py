"""Contract checks of /items: create, read, replace, delete, list, and their database effects."""

from __future__ import annotations

from urllib.parse import urlsplit

from apps.contract.items import (
    count_items,
    create,
    create_many,
    delete,
    get_item,
    ids,
    page,
    post_item,
    same_item,
)
from apps.contract.probe import Check, Session, check

# Path segments that are not a valid item id, plus the largest valid id (never created).
BAD_IDS = ("abc", "-1", "0", "1.5", "1e3", "99999999999999999999", "9223372036854775808")
MAX_ID = "9223372036854775807"
UNICODE_NAME = "Café ☕ 日本語 🐍"


@check(quick=True)
def item_round_trip(s: Session) -> None:
    sent = {"name": "round trip", "price": 9.99, "description": "quick check"}
    item = create(s, sent)
    same_item(s, f"GET /items/{item['id']}", sent, get_item(s, item["id"]))
    delete(s, item["id"])


@check()
def create_location_header(s: Session) -> None:
    item, response = post_item(s, {"name": "located", "price": 1})
    location = response.headers.get("location")
    if location is None:
        raise s.fail("201 without a Location header")
    wanted = f"/items/{item['id']}"
    path = urlsplit(location).path
    if not s.expect(path == wanted, f"Location {location!r}, expected {wanted!r}"):
        return
    if location != wanted:
        s.warn(f"Location {location!r} is absolute; the contract says {wanted!r}")
    s.expect(get_item(s, item["id"]) == item, f"GET {location} differs from the 201 body")


@check()
def create_description_optional(s: Session) -> None:
    for sent in (
        {"name": "no description", "price": 2},
        {"name": "null", "price": 2, "description": None},
    ):
        item = create(s, sent)
        s.expect(item.get("description") is None, f"description {item.get('description')!r}")
        same_item(s, "GET after POST", sent, get_item(s, item["id"]))


@check()
def create_price_forms(s: Session) -> None:
    # Integers, zero, the maximum and a float with no exact binary form all round-trip.
    for price in (0, 5, 19.99, 0.5, 1000000000, 999999999.99):
        item = create(s, {"name": f"price {price}", "price": price})
        same_item(
            s, "GET after POST", {"name": f"price {price}", "price": price}, get_item(s, item["id"])
        )


@check()
def create_at_limits(s: Session) -> None:
    for sent in (
        {"name": "n" * 100, "price": 1},
        {"name": "x", "price": 1, "description": "d" * 1000},
        {"name": "x", "price": 1, "description": ""},
    ):
        item = create(s, sent)
        same_item(s, "GET after POST", sent, get_item(s, item["id"]))


@check()
def unicode_round_trip(s: Session) -> None:
    sent = {"name": UNICODE_NAME, "price": 3.5, "description": 'quote " backslash \\ tab \t line\n'}
    item = create(s, sent)
    same_item(s, "GET after POST", sent, get_item(s, item["id"]))
    listed = [i for i in page(s, 1, count_items(s) - 1) if i.get("id") == item["id"]]
    s.expect(bool(listed) and listed[0] == item, f"GET /items tail {listed!r} != {item!r}")


@check()
def unicode_lengths_count_characters(s: Session) -> None:
    # 100 characters that are 300 (CJK) or 400 (emoji) UTF-8 bytes are still 100 characters.
    for name in ("日" * 100, "🐍" * 100):
        create(s, {"name": name, "price": 1})
    s.probe("POST", "/items", expect=422, item={"name": "日" * 101, "price": 1})


@check()
def escaped_unicode_accepted(s: Session) -> None:
    body = b'{"name":"caf\\u00e9 \\ud83d\\udc0d","price":1}'
    response = s.call("POST", "/items", expect=201, body=body, content_type="application/json")
    item = s.json(response)
    s.expect(item.get("name") == "café 🐍", f"name {item.get('name')!r}, expected 'café 🐍'")


@check()
def content_type_parameters_accepted(s: Session) -> None:
    body = b'{"name":"charset","price":1}'
    s.call("POST", "/items", expect=201, body=body, content_type="application/json; charset=utf-8")


@check()
def get_missing_item(s: Session) -> None:
    item = create(s, {"name": "soon gone", "price": 1})
    delete(s, item["id"])
    s.probe("GET", f"/items/{item['id']}", expect=404)
    s.probe("GET", f"/items/{MAX_ID}", expect=404)


@check()
def put_replaces_all_fields(s: Session) -> None:
    item = create(s, {"name": "before", "price": 1, "description": "old"})
    sent = {"name": "after", "price": 2.5}
    replaced = s.json(s.call("PUT", f"/items/{item['id']}", expect=200, item=sent))
    same_item(s, "PUT response", sent, replaced)
    s.expect(replaced.get("id") == item["id"], f"PUT changed id to {replaced.get('id')!r}")
    same_item(s, "GET after PUT", sent, get_item(s, item["id"]))
    sent = {"name": UNICODE_NAME, "price": 0, "description": "new"}
    s.call("PUT", f"/items/{item['id']}", expect=200, item=sent)
    same_item(s, "GET after second PUT", sent, get_item(s, item["id"]))


@check()
def put_unknown_item(s: Session) -> None:
    item = create(s, {"name": "soon gone", "price": 1})
    delete(s, item["id"])
    valid = {"name": "ghost", "price": 1}
    s.probe("PUT", f"/items/{item['id']}", expect=404, item=valid)
    s.probe("PUT", f"/items/{MAX_ID}", expect=404, item=valid)


@check()
def put_invalid_body_keeps_item(s: Session) -> None:
    sent = {"name": "stable", "price": 4, "description": "kept"}
    item = create(s, sent)
    path = f"/items/{item['id']}"
    s.probe("PUT", path, expect=422, item={"name": "", "price": 1})
    s.probe("PUT", path, expect=422, item={"name": "x", "price": -1})
    s.probe("PUT", path, expect=422, item={"name": "x", "price": 1, "colour": "red"})
    s.probe("PUT", path, expect=400, body=b'{"name": ', content_type="application/json")
    s.probe("PUT", path, expect=415, body=b'{"name":"x","price":1}', content_type="text/plain")
    same_item(s, "GET after refused PUTs", sent, get_item(s, item["id"]))


@check()
def delete_item(s: Session) -> None:
    item = create(s, {"name": "to delete", "price": 1})
    path = f"/items/{item['id']}"
    delete(s, item["id"])
    s.probe("GET", path, expect=404)
    s.probe("DELETE", path, expect=404)
    s.probe("PUT", path, expect=404, item={"name": "x", "price": 1})
    s.probe("DELETE", f"/items/{MAX_ID}", expect=404)


@check()
def bad_item_ids(s: Session) -> None:
    for segment in BAD_IDS:
        s.probe("GET", f"/items/{segment}", expect=404)
        s.probe("DELETE", f"/items/{segment}", expect=404)
        s.probe("PUT", f"/items/{segment}", expect=404, item={"name": "x", "price": 1})


@check()
def list_newest_at_the_end(s: Session) -> None:
    made = create_many(s, 3, "order")
    made_ids = [item["id"] for item in made]
    s.expect(made_ids == sorted(made_ids), f"ids not increasing in creation order: {made_ids}")
    total = count_items(s)
    tail = page(s, 100, max(0, total - 100))
    s.expect(tail[-3:] == made, f"the last items listed {tail[-3:]!r} are not {made!r}")
    listed = ids(tail)
    s.expect(listed == sorted(set(listed)), f"ids not strictly ascending: {listed}")


@check()
def list_limit_offset(s: Session) -> None:
    made = create_many(s, 3, "window")
    total = count_items(s)
    for limit, offset, wanted in (
        (2, total - 3, made[:2]),
        (2, total - 2, made[1:]),
        (1, total - 1, made[2:]),
        (5, total, []),
        (5, total + 10, []),
    ):
        got = page(s, limit, offset)
        s.expect(
            got == wanted, f"limit={limit} offset={offset}: {ids(got)}, expected {ids(wanted)}"
        )


@check()
def list_default_limit(s: Session) -> None:
    existing = page(s, 100, 0)
    create_many(s, max(0, 21 - len(existing)), "default")
    first = page(s, 100, 0)
    got = s.json(s.call("GET", "/items", expect=200))
    s.expect(ids(got) == ids(first[:20]), f"GET /items: {ids(got)}, expected {ids(first[:20])}")
    got = s.json(s.call("GET", "/items?offset=1", expect=200))
    s.expect(ids(got) == ids(first[1:21]), f"offset=1: {ids(got)}, expected {ids(first[1:21])}")
    got = s.json(s.call("GET", "/items?limit=3", expect=200))
    s.expect(ids(got) == ids(first[:3]), f"limit=3: {ids(got)}, expected {ids(first[:3])}")


@check()
def list_limit_maximum(s: Session) -> None:
    create_many(s, max(0, 101 - count_items(s)), "maximum")
    first = page(s, 100, 0)
    s.expect(len(first) == 100, f"limit=100 returned {len(first)} of at least 101 items")
    shifted = page(s, 100, 1)
    s.expect(ids(shifted[:99]) == ids(first[1:]), "offset=1 is not the same list shifted by one")


@check()
def list_bad_params(s: Session) -> None:
    for query in (
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "limit=99999999999999999999",
        "offset=-1",
        "offset=abc",
        "offset=1.5",
        "offset=",
    ):
        s.probe("GET", f"/items?{query}", expect=422)


@check()
def list_offset_huge(s: Session) -> None:
    # Beyond 64 bits the database cannot take it: an empty page or 422, never a 5xx.
    response = s.call("GET", "/items?offset=99999999999999999999", expect=(200, 422))
    if response.status_code == 200:
        s.expect(s.json(response) == [], f"body {response.text[:100]!r}, expected []")


ITEM_CHECKS: tuple[Check, ...] = (
    item_round_trip,
    create_location_header,
    create_description_optional,
    create_price_forms,
    create_at_limits,
    unicode_round_trip,
    unicode_lengths_count_characters,
    escaped_unicode_accepted,
    content_type_parameters_accepted,
    get_missing_item,
    put_replaces_all_fields,
    put_unknown_item,
    put_invalid_body_keeps_item,
    delete_item,
    bad_item_ids,
    list_newest_at_the_end,
    list_limit_offset,
    list_default_limit,
    list_limit_maximum,
    list_bad_params,
    list_offset_huge,
)
