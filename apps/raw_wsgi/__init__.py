"""The WSGI baseline: a plain WSGI callable, no framework."""
