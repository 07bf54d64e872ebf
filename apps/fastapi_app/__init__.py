"""FastAPI variants of the contract: async endpoints (app_async) and plain-def ones (app_sync)."""
