"""DELIBERATELY WRONG: FastAPI with a blocking call inside an `async def` endpoint.

Not a variant to deploy or compare. It exists for one claim of scenarios/claims.toml
("a blocking call inside an async def endpoint stalls every request on that worker").
Every route is app_async's, except GET /io/sleep, which calls time.sleep() inside
`async def`: the answer is the contract's, but the event loop stops for the whole wait,
so no other request on that worker makes progress meanwhile. The mistake is the common
one: a sync library call (requests, time.sleep, a sync database driver) in async code.
"""

from __future__ import annotations

import time

from fastapi.routing import APIRoute

from apps.fastapi_app import app_async
from apps.fastapi_app.factory import create_app
from apps.fastapi_app.params import Millis

app = create_app(lifespan=app_async.app.router.lifespan_context)
for route in app_async.app.router.routes:
    if not (isinstance(route, APIRoute) and route.path == "/io/sleep"):
        app.router.routes.append(route)


@app.get("/io/sleep")
async def io_sleep(ms: Millis) -> dict[str, int]:
    time.sleep(ms / 1000)  # WRONG ON PURPOSE: blocks the event loop (see the module doc)
    return {"slept_ms": ms}
