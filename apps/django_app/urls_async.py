"""URLconf of django-asgi: every view is a coroutine function."""

from __future__ import annotations

from apps.django_app import views_async
from apps.django_app.routing import async_methods, contract_urlpatterns

urlpatterns = contract_urlpatterns(views_async, async_methods)

handler400 = "apps.django_app.responses.bad_request"
handler403 = "apps.django_app.responses.forbidden"
handler404 = "apps.django_app.responses.not_found"
handler500 = "apps.django_app.responses.server_error"
