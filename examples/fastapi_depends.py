"""The seed's first example as 0.1.x wrote it: ``cachette: Cachette = Depends()``.

It keeps working, with Cache-Control honoured; FastAPI runs the class dependency in its
threadpool, though, which costs a thread hop per request. examples/fastapi_inmemory.py is
the fast way. Run it with `uvicorn fastapi_depends:app` from this folder.
"""

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from cachette import Cachette

app = FastAPI()


### Routing ###
class Payload(BaseModel):
    key: str
    value: str


@app.post("/", response_class=PlainTextResponse)
async def setter(payload: Payload, cachette: Cachette = Depends()):
    await cachette.put(payload.key, payload.value)
    return "OK"


@app.get("/{key}", response_class=PlainTextResponse, status_code=200)
async def getter(key: str, cachette: Cachette = Depends()):
    value: str = await cachette.fetch(key)
    return value


@app.delete("/{key}", response_class=PlainTextResponse, status_code=200)
async def destroy(key: str, cachette: Cachette = Depends()):
    removed: int = await cachette.clear(key=key)
    return "OK" if removed else "MISSING"
