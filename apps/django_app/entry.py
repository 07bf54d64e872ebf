"""The three Django variants' server entry points (see apps/variants.toml).

    apps.django_app.entry:wsgi_app   django-wsgi  sync function views, WSGI
    apps.django_app.entry:asgi_app   django-asgi  async function views, ASGI
    apps.django_app.entry:drf_app    drf          Django REST Framework APIViews, WSGI

Importing this module configures Django (django.setup() is idempotent), so it works
the same under gunicorn, uvicorn, uWSGI, granian, hypercorn and the test process.
Nothing connects to the database here: connections open on first use, inside each
worker process after any fork.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.django_app.settings")
django.setup(set_prefix=False)

from apps.django_app.handlers import VariantASGIHandler, VariantWSGIHandler  # noqa: E402

wsgi_app = VariantWSGIHandler("apps.django_app.urls_sync")
asgi_app = VariantASGIHandler("apps.django_app.urls_async")
drf_app = VariantWSGIHandler("apps.django_app.urls_drf")
