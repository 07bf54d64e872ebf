"""The HTTP contract every app variant serves: OpenAPI document, schema validation, checks."""
