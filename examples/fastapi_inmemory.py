"""FastAPI with the default in-memory backend, the fast way: build ``Cachette(request)`` in
the handler. No dependency to resolve and no threadpool hop; the request's Cache-Control is
honoured. (``cachette: Cachette = Depends()``, the 0.1.x idiom, works too:
examples/fastapi_depends.py; ``cachette: CachetteDep`` is the injected form, see
docs/frameworks.md.)

Run it with `make demo`, or `uvicorn fastapi_inmemory:app` from this folder.
"""

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from cachette import Cachette

app = FastAPI()


### Routing ###
class Payload(BaseModel):
    key: str
    value: str


@app.post("/", response_class=PlainTextResponse)
async def setter(payload: Payload, request: Request):
    await Cachette(request).put(payload.key, payload.value)
    return "OK"


@app.get("/{key}", response_class=PlainTextResponse, status_code=200)
async def getter(key: str, request: Request):
    value: str = await Cachette(request).fetch(key)
    return value


@app.delete("/{key}", response_class=PlainTextResponse, status_code=200)
async def destroy(key: str, request: Request):
    removed: int = await Cachette(request).clear(key=key)
    return "OK" if removed else "MISSING"
