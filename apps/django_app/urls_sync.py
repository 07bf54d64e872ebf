"""URLconf of django-wsgi (also settings.ROOT_URLCONF, the fallback)."""

from __future__ import annotations

from apps.django_app import views_sync
from apps.django_app.routing import contract_urlpatterns, methods

urlpatterns = contract_urlpatterns(views_sync, methods)

handler400 = "apps.django_app.responses.bad_request"
handler403 = "apps.django_app.responses.forbidden"
handler404 = "apps.django_app.responses.not_found"
handler500 = "apps.django_app.responses.server_error"
