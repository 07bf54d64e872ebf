"""drf: Django REST Framework APIViews (routes in urls_drf.py)."""

from __future__ import annotations

import time
from typing import Any

from django.http import FileResponse, HttpResponse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from apps.common.cpu import hash_chain
from apps.common.errors import bad_gateway
from apps.common.settings import MAX_BODY_BYTES
from apps.common.upstream import UpstreamError, fetch_delay_sync
from apps.common.validation import ItemIn, is_json_content_type, parse_item_id
from apps.django_app.databases import DEFAULT_ALIAS
from apps.django_app.drf_serializers import (
    CpuQuerySerializer,
    ItemInSerializer,
    ItemSerializer,
    MillisQuerySerializer,
    PageQuerySerializer,
)
from apps.django_app.drf_support import PayloadTooLarge
from apps.django_app.responses import file_response
from apps.django_app.store import DjangoStore

store = DjangoStore(DEFAULT_ALIAS)


def _query(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _item_in(request: Request) -> ItemIn:
    """The validated body, with the checks DRF leaves to the view, in contract order.

    DRF alone would 413 only after choosing a parser (so after the 415), and would hand
    an empty body to the serializer as {} (a 422) whatever its Content-Type.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise exceptions.ParseError("invalid Content-Length header") from None
    if length > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    if not is_json_content_type(request.content_type):
        raise exceptions.UnsupportedMediaType(request.content_type)
    if length == 0:
        raise exceptions.ParseError("JSON parse error - the body is empty")
    serializer = ItemInSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return ItemIn(**serializer.validated_data)


def _item_id(segment: str) -> int:
    item_id = parse_item_id(segment)
    if item_id is None:
        raise exceptions.NotFound(f"no item with id {segment!r}")
    return item_id


def _item_response(row: dict[str, Any] | None, item_id: int, status: int = 200) -> Response:
    if row is None:
        raise exceptions.NotFound(f"no item with id {item_id}")
    return Response(ItemSerializer(row).data, status=status)


class HealthView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class JsonView(APIView):
    def get(self, request: Request) -> Response:
        return Response({"message": "Hello, World!"})


class PlaintextView(APIView):
    def get(self, request: Request) -> HttpResponse:
        # A plain Django response: DRF renderers are for data, this is a fixed text.
        return HttpResponse(b"Hello, World!", content_type="text/plain; charset=utf-8")


class ItemListView(APIView):
    def get(self, request: Request) -> Response:
        page = _query(PageQuerySerializer, request)
        rows = store.list_items(page["limit"], page["offset"])
        return Response(ItemSerializer(rows, many=True).data)

    def post(self, request: Request) -> Response:
        created = store.create_item(_item_in(request))
        response = _item_response(created, created["id"], status=201)
        response["Location"] = f"/items/{created['id']}"
        return response


class ItemDetailView(APIView):
    def get(self, request: Request, item_id_segment: str) -> Response:
        item_id = _item_id(item_id_segment)
        return _item_response(store.get_item(item_id), item_id)

    def put(self, request: Request, item_id_segment: str) -> Response:
        item_id = _item_id(item_id_segment)
        return _item_response(store.replace_item(item_id, _item_in(request)), item_id)

    def delete(self, request: Request, item_id_segment: str) -> Response:
        item_id = _item_id(item_id_segment)
        if not store.delete_item(item_id):
            raise exceptions.NotFound(f"no item with id {item_id}")
        return Response(status=204)


class DbQueryView(APIView):
    def get(self, request: Request) -> Response:
        return Response(store.random_world())


class SleepView(APIView):
    def get(self, request: Request) -> Response:
        ms = _query(MillisQuerySerializer, request)["ms"]
        # Blocks the worker thread on purpose: that is what a sync app does.
        time.sleep(ms / 1000)
        return Response({"slept_ms": ms})


class UpstreamView(APIView):
    def get(self, request: Request) -> Response:
        ms = _query(MillisQuerySerializer, request)["ms"]
        try:
            slept = fetch_delay_sync(ms)
        except UpstreamError as exc:
            raise bad_gateway(str(exc)) from exc
        return Response({"upstream_ms": slept})


class CpuView(APIView):
    def get(self, request: Request) -> Response:
        n = _query(CpuQuerySerializer, request)["n"]
        return Response({"n": n, "digest": hash_chain(n)})


class StaticFileView(APIView):
    # A Django FileResponse passes through DRF untouched (no renderer); an unknown name
    # raises the ApiError 404 that the DRF exception handler shapes.
    def get(self, request: Request, name: str) -> FileResponse:
        return file_response(name)
