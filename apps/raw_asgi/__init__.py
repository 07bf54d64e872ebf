"""The ASGI baseline: a plain ASGI callable, no framework."""
