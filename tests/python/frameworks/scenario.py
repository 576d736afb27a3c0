"""The scenario every framework test runs against its example app in examples/: put, fetch
and clear through real HTTP requests, and the request Cache-Control directives."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"

# (method, path, json body or None, headers or None) -> (status, body text)
Send = Callable[[str, str, Any, "dict[str, str] | None"], Awaitable[tuple[int, str]]]


def load_example(name: str) -> ModuleType:
    """Imports examples/<name>.py once per test session, as ``uvicorn name:app`` would."""
    module_name = f"cachette_example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


async def run(send: Send) -> None:
    async def get(key: str, cache_control: str | None = None) -> str:
        headers = {"Cache-Control": cache_control} if cache_control else None
        status, body = await send("GET", f"/{key}", None, headers)
        assert status == 200, (status, body)
        return body

    async def put(key: str, value: str, cache_control: str | None = None) -> None:
        headers = {"Cache-Control": cache_control} if cache_control else None
        status, body = await send("POST", "/", {"key": key, "value": value}, headers)
        assert (status, body) == (200, "OK"), (status, body)

    async def clear(key: str) -> str:
        status, body = await send("DELETE", f"/{key}", None, None)
        assert status == 200, (status, body)
        return body

    # put / fetch / clear
    assert await get("greeting") == ""
    await put("greeting", "hello")
    await put("other", "kept")
    assert await get("greeting") == "hello"
    assert await clear("greeting") == "OK"
    assert await get("greeting") == ""
    assert await clear("greeting") == "MISSING"
    assert await get("other") == "kept"

    # Cache-Control on reads
    await put("cc", "v1")
    assert await get("cc", "no-store") == ""
    assert await get("cc", "no-cache") == ""
    assert await get("cc", "max-age=0") == ""
    assert await get("cc", "max-age=3600") == "v1"
    assert await get("cc", "public, max-age=3600") == "v1"
    # Cache-Control on writes: no-store writes nothing, no-cache still writes
    await put("cc", "v2", "no-store")
    assert await get("cc") == "v1"
    await put("cc", "v3", "no-cache")
    assert await get("cc") == "v3"
    await clear("cc")
    await clear("other")
