"""0.1.x apps, served unchanged by real uvicorn: the drop-in promise covers apps, not only the
test suite (issue 19, item 9).

Each app below is written the way cachette 0.1.x's README and example apps use it, per
framework, and nothing more: ``@Cachette.load_config`` returning ``(name, value)`` pairs, then

- FastAPI: ``cachette: Cachette = Depends()``;
- Starlette: ``Cachette()`` inside the endpoint;
- Litestar: ``dependencies={"cachette": Provide(Cachette)}``;
- BlackSheep: ``app.services.add_scoped(Cachette)`` and ``cachette: Cachette`` in handlers,
  with no ``setup(app)`` call (0.1.x had none; such apps answered 500 before: rodi could not
  resolve ``Cachette.__init__``'s ``request``).

These are our own texts of those apps (the original files are not copied here), with each
framework/backend pair the original's examples/ folder covers. The only change an app needs
to run here is its server address, since test servers listen on private ports: it is filled
into the app's text before uvicorn imports it. Each app runs in its own uvicorn process, as
``uvicorn module:app`` would run it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from backends import require_env

FASTAPI = """
from cachette import Cachette
from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

app = FastAPI()


@Cachette.load_config
def get_cachette_config():
    return {config}


class Payload(BaseModel):
    key: str
    value: str


@app.post("/", response_class=PlainTextResponse)
async def setter(payload: Payload, cachette: Cachette = Depends()):
    await cachette.put(payload.key, payload.value)
    return "OK"


@app.get("/{{key}}", response_class=PlainTextResponse, status_code=200)
async def getter(key: str, cachette: Cachette = Depends()):
    value: str = await cachette.fetch(key)
    return value
"""

STARLETTE = """
from cachette import Cachette
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


@Cachette.load_config
def get_cachette_config():
    return {config}


class Payload(BaseModel):
    key: str
    value: str


async def setter(request: Request):
    payload = Payload(**(await request.json()))
    cachette = Cachette()
    await cachette.put(payload.key, payload.value)
    return PlainTextResponse("OK")


async def getter(request: Request):
    cachette = Cachette()
    value = await cachette.fetch(request.path_params["key"])
    return PlainTextResponse(value)


app = Starlette(
    routes=[Route("/{{key:str}}", getter, methods=["GET"]), Route("/", setter, methods=["POST"])]
)
"""

LITESTAR = """
from cachette import Cachette
from litestar import Litestar, get, post
from litestar.di import Provide
from pydantic import BaseModel


@Cachette.load_config
def get_cachette_config():
    return {config}


class Payload(BaseModel):
    key: str
    value: str


@get("/{{key:str}}")
async def getter(key: str, cachette: Cachette) -> str:
    value: str = await cachette.fetch(key)
    return value


@post("/")
async def setter(data: Payload, cachette: Cachette) -> str:
    await cachette.put(data.key, data.value)
    return "OK"


app = Litestar(route_handlers=[getter, setter], dependencies={{"cachette": Provide(Cachette)}})
"""

BLACKSHEEP = """
from blacksheep import Application, FromJSON, get, post
from cachette import Cachette
from pydantic import BaseModel


@Cachette.load_config
def get_cachette_config():
    return {config}


class Payload(BaseModel):
    key: str
    value: str


app = Application()
app.services.add_scoped(Cachette)


@post("/")
async def setter(body: FromJSON[Payload], cachette: Cachette) -> str:
    payload = body.value
    await cachette.put(payload.key, payload.value)
    return "OK"


@get("/{{key}}")
async def getter(cachette: Cachette, key: str) -> str:
    value: str = await cachette.fetch(key)
    return value
"""

APPS = {"fastapi": FASTAPI, "starlette": STARLETTE, "litestar": LITESTAR, "blacksheep": BLACKSHEEP}


def config_for(backend: str, tmp_path: Path) -> list[tuple[str, str]]:
    if backend == "inmemory":
        return [("backend", "inmemory")]
    if backend == "pickle":
        return [("backend", "pickle"), ("pickle_path", str(tmp_path / "cachette.pkl"))]
    if backend == "redis":
        return [("backend", "redis"), ("redis_url", require_env("CACHETTE_TEST_REDIS_URL"))]
    if backend == "valkey":
        return [("backend", "valkey"), ("valkey_url", require_env("CACHETTE_TEST_VALKEY_URL"))]
    if backend == "memcached":
        host = require_env("CACHETTE_TEST_MEMCACHED_HOST")
        return [("backend", "memcached"), ("memcached_host", host)]
    assert backend == "mongodb"
    return [("backend", "mongodb"), ("mongodb_url", require_env("CACHETTE_TEST_SECANTUS_URL"))]


# Every framework, and every backend once, among the framework/backend pairs of the
# original's examples/ folder (the README's two FastAPI apps first; BlackSheep's two, which
# answered 500 before).
CASES = [
    pytest.param("fastapi", "inmemory"),
    pytest.param("fastapi", "redis", marks=pytest.mark.integration),
    pytest.param("starlette", "memcached", marks=pytest.mark.integration),
    pytest.param("litestar", "mongodb", marks=pytest.mark.integration),
    pytest.param("litestar", "valkey", marks=pytest.mark.integration),
    pytest.param("blacksheep", "memcached", marks=pytest.mark.integration),
    pytest.param("blacksheep", "pickle"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class App:
    """One app in its own ``uvicorn module:app`` process."""

    def __init__(self, directory: Path, framework: str, backend: str) -> None:
        directory.mkdir()
        self.directory = directory
        self.log = directory / "uvicorn.log"
        self.port = free_port()
        module = f"original_{framework}_{backend}"
        text = APPS[framework].format(config=repr(config_for(backend, directory)))
        (directory / f"{module}.py").write_text(text)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(directory),
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=directory,
                env=os.environ.copy(),
            )  # fmt: skip

    def url(self) -> str:
        """The app's address once it listens (it started with the others: wait here)."""
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return f"http://127.0.0.1:{self.port}"
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "uvicorn did not start: " + self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, str], App]]:
    """Every selected case's app, all started at once (interpreters start in parallel)."""
    selected = [
        (item.callspec.params["framework"], item.callspec.params["backend"])
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_a_0_1_x_app_is_served_unchanged"
    ]
    root = tmp_path_factory.mktemp("original-examples")
    started: dict[tuple[str, str], App] = {}
    try:
        for framework, backend in selected:
            started[framework, backend] = App(root / f"{framework}-{backend}", framework, backend)
        yield started
    finally:
        for app in started.values():
            app.stop()


@pytest.mark.parametrize("framework, backend", CASES)
def test_a_0_1_x_app_is_served_unchanged(
    framework: str, backend: str, apps: dict[tuple[str, str], App]
) -> None:
    app = apps[framework, backend]
    key = f"original-example-{uuid.uuid4().hex}"
    with httpx.Client(base_url=app.url(), trust_env=False, timeout=10) as client:
        stored = client.post("/", json={"key": key, "value": "hello 0.1.x"})
        assert stored.status_code in (200, 201), stored.text  # Litestar's POST answers 201
        assert stored.text == "OK"
        fetched = client.get(f"/{key}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.text == "hello 0.1.x"
    assert "Traceback" not in app.log.read_text()
