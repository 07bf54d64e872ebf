"""The upstream service that GET /io/upstream calls."""
