"""BlackSheep with the default in-memory backend: ``add_scoped(Cachette)`` builds one per
request (as in 0.1.x); ``cachette.asgi.blacksheep.setup(app)`` makes it honour the request's
Cache-Control header.

Run it with `uvicorn blacksheep_inmemory:app` from this folder, then:
  curl -X POST localhost:8000/ -H 'content-type: application/json' -d '{"key":"a","value":"b"}'
  curl localhost:8000/a
  curl -X DELETE localhost:8000/a
"""

from dataclasses import dataclass

from blacksheep import Application, FromJSON, Router, text

from cachette import Cachette
from cachette.asgi.blacksheep import setup

app = Application(router=Router())
setup(app)
app.services.add_scoped(Cachette)


@dataclass
class Payload:
    key: str
    value: str


@app.router.post("/")
async def setter(payload: FromJSON[Payload], cachette: Cachette):
    await cachette.put(payload.value.key, payload.value.value)
    return text("OK")


@app.router.get("/{key}")
async def getter(key: str, cachette: Cachette):
    value = await cachette.fetch(key)
    return text("" if value is None else value)


@app.router.delete("/{key}")
async def destroy(key: str, cachette: Cachette):
    removed = await cachette.clear(key=key)
    return text("OK" if removed else "MISSING")
