"""Starlette with the default in-memory backend. Starlette has no dependency injection:
build a ``Cachette`` from the request in each endpoint (Cache-Control is honoured).

Run it with `uvicorn starlette_inmemory:app` from this folder, then:
  curl -X POST localhost:8000/ -H 'content-type: application/json' -d '{"key":"a","value":"b"}'
  curl localhost:8000/a
  curl -X DELETE localhost:8000/a
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cachette import Cachette


async def setter(request: Request) -> PlainTextResponse:
    payload = await request.json()
    await Cachette(request).put(payload["key"], payload["value"])
    return PlainTextResponse("OK")


async def getter(request: Request) -> PlainTextResponse:
    value = await Cachette(request).fetch(request.path_params["key"])
    return PlainTextResponse("" if value is None else value)


async def destroy(request: Request) -> PlainTextResponse:
    removed = await Cachette(request).clear(key=request.path_params["key"])
    return PlainTextResponse("OK" if removed else "MISSING")


app = Starlette(
    routes=[
        Route("/", setter, methods=["POST"]),
        Route("/{key}", getter, methods=["GET"]),
        Route("/{key}", destroy, methods=["DELETE"]),
    ]
)
