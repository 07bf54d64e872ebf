"""Claims about WSGI and ASGI as declarative experiments with computed verdicts
(scenarios/claims.toml; `python -m harness claims`)."""
