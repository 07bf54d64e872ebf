"""Settings shared by the three Django variants (DJANGO_SETTINGS_MODULE).

A deliberately minimal project: no admin, auth, sessions, messages, templates or
middleware, so the benchmark measures Django's request/response core (plus DRF for
the drf variant), not features the contract does not use.
"""

from __future__ import annotations

import os
import secrets

from apps.common.settings import MAX_BODY_BYTES, load_settings
from apps.django_app.databases import django_databases

_settings = load_settings()

DEBUG = False
# Nothing is signed or encrypted, but Django requires a key: take it from the
# environment, or make a random one per process rather than committing a secret.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
# Checked only where request.get_host() runs (CommonMiddleware, absolute URLs); no
# view here calls it, so this states the intent without a per-request cost.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = ["rest_framework"]
# Empty on purpose: every variant's handler sets Content-Length itself (what
# CommonMiddleware would add), and the rest of the default stack serves browsers.
MIDDLEWARE: list[str] = []
# `check --deploy` asks for the security, clickjacking and CSRF middleware: a JSON API
# on loopback with no cookies, sessions or HTML has nothing for them to protect.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]
# Only the fallback: each handler in handlers.py picks its variant's URLconf.
ROOT_URLCONF = "apps.django_app.urls_sync"
APPEND_SLASH = False
TEMPLATES: list[dict[str, object]] = []

DATABASES = django_databases(_settings.database_url, _settings.db_pool_size)

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

# request.body refuses larger bodies with RequestDataTooBig; the views turn that into
# the contract's 413 (Django's own answer would be a 400).
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# The contract ignores unknown query parameters, however many; Django would refuse more
# than 1,000 fields (also in the query string) with a 400.
DATA_UPLOAD_MAX_NUMBER_FIELDS = None

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.django_app.drf_support.StrictJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.django_app.drf_support.JsonOnlyNegotiation",
    "EXCEPTION_HANDLER": "apps.django_app.drf_support.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# With DEBUG off Django's default logging prints nothing; show server errors (500s)
# on stderr so a failing benchmark run leaves a traceback in the server log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "ERROR"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "ERROR"}},
}
