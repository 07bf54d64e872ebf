"""Django 5.2 app variants: django-wsgi, django-asgi and drf, one Django project.

One project because the contract tests import all three into a single process and
Django settings can be configured only once per process; each variant gets its own
URLconf through its handler (see handlers.py).
"""
