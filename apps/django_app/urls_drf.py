"""URLconf of drf: class-based DRF APIViews."""

from __future__ import annotations

from django.urls import path

from apps.django_app import drf_views as views

# Item ids are matched as any segment and checked by the view (see routing.py).
urlpatterns = [
    path("health", views.HealthView.as_view()),
    path("json", views.JsonView.as_view()),
    path("plaintext", views.PlaintextView.as_view()),
    path("items", views.ItemListView.as_view()),
    path("items/<str:item_id_segment>", views.ItemDetailView.as_view()),
    path("db/query", views.DbQueryView.as_view()),
    path("io/sleep", views.SleepView.as_view()),
    path("io/upstream", views.UpstreamView.as_view()),
    path("cpu", views.CpuView.as_view()),
    path("static/<str:name>", views.StaticFileView.as_view()),
]

handler400 = "apps.django_app.responses.bad_request"
handler403 = "apps.django_app.responses.forbidden"
handler404 = "apps.django_app.responses.not_found"
handler500 = "apps.django_app.responses.server_error"
