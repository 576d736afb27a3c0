"""Litestar with the default in-memory backend: ``Provide(Cachette)`` builds one per request
(Litestar passes its request, so Cache-Control is honoured).

Run it with `uvicorn litestar_inmemory:app` from this folder, then:
  curl -X POST localhost:8000/ -H 'content-type: application/json' -d '{"key":"a","value":"b"}'
  curl localhost:8000/a
  curl -X DELETE localhost:8000/a
"""

from litestar import Litestar, delete, get, post
from litestar.di import Provide
from pydantic import BaseModel

from cachette import Cachette


class Payload(BaseModel):
    key: str
    value: str


@post("/", status_code=200)
async def setter(data: Payload, cachette: Cachette) -> str:
    await cachette.put(data.key, data.value)
    return "OK"


@get("/{key:str}")
async def getter(key: str, cachette: Cachette) -> str:
    value = await cachette.fetch(key)
    return "" if value is None else value


@delete("/{key:str}", status_code=200)
async def destroy(key: str, cachette: Cachette) -> str:
    removed = await cachette.clear(key=key)
    return "OK" if removed else "MISSING"


app = Litestar(
    route_handlers=[setter, getter, destroy],
    dependencies={"cachette": Provide(Cachette, sync_to_thread=False)},
)
