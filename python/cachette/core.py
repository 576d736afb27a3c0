"""``Cachette``: the object request handlers receive through dependency injection.

Building one costs about a microsecond: the backend, its connections and the codec are
shared by every instance in the process and created once, lazily, by ``_Runtime``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from cachette.backends import Backend, create_backend
from cachette.codecs import Codec, load_codec
from cachette.config import CachetteConfig, read_settings
from cachette.exceptions import (
    CachetteConnectionError,
    CachetteTimeoutError,
    CachetteValueError,
)

if TYPE_CHECKING:
    from cachette._core import Store

try:  # FastAPI and Starlette inject the current request into a parameter typed Request.
    from starlette.requests import Request
except ImportError:  # pragma: no cover - starlette is optional
    Request = None  # type: ignore[assignment,misc]

__all__ = ["Cachette"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_FAIL_OPEN_ERRORS = (CachetteConnectionError, CachetteTimeoutError)


class _Runtime:
    """Process-wide state: the configuration and, once used, its backend and codec."""

    __slots__ = ("backend", "codec", "config", "decode", "encode", "store", "text", "ttl_ms")

    def __init__(self, config: CachetteConfig) -> None:
        self.config = config
        self.ttl_ms = config.ttl * 1000
        self.codec: Codec = load_codec(config.effective_codec)
        # The codec's fast paths (often the library's own functions). When one raises, the
        # operations below call the codec's complete encode/decode, which handle the value
        # or raise CodecError.
        self.encode = self.codec.raw_encode
        self.decode = self.codec.raw_decode
        self.text: bool = getattr(self.codec, "text", False)
        self.backend: Backend | None = None
        self.store: Store | None = None  # the backend's local_store, once started

    def start(self) -> Backend:
        backend = self.backend
        if backend is None:
            backend = create_backend(self.config)
            self.backend = backend
            self.store = backend.local_store
        return backend

    def forget_backend(self) -> None:
        self.backend = None
        self.store = None


_runtime = _Runtime(CachetteConfig())


def _after_fork_in_child() -> None:
    # A forked worker must never use its parent's I/O thread, locks or file handles.
    _runtime.forget_backend()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _parse_cache_control(header: str) -> tuple[bool, bool, int | None]:
    """(no_store, no_cache, max_age) from a request's Cache-Control (RFC 9111 §5.2.1)."""
    no_store = no_cache = False
    max_age: int | None = None
    for directive in header.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name == "no-store":
            no_store = True
        elif name == "no-cache":
            no_cache = True
        elif name == "max-age":
            arg = arg.strip().strip('"')
            if arg.isdigit():
                max_age = int(arg)
    return no_store, no_cache, max_age


def _bad_key(key: object) -> CachetteValueError:
    return CachetteValueError(f"cache keys must be str, not {type(key).__name__}")


class Cachette:
    """The cache, as seen by one request.

    ``Cachette()`` takes no required argument so that FastAPI's ``Depends()``, Litestar's
    ``Provide(Cachette)`` and BlackSheep's ``add_scoped(Cachette)`` can build one per request.
    When FastAPI or Starlette pass the request, its ``Cache-Control`` header is honoured:
    ``no-store`` bypasses the cache entirely, ``no-cache`` skips reads but still writes, and
    ``max-age=N`` treats entries older than N seconds as missing.
    """

    __slots__ = ("_max_age", "_no_read", "_no_write", "_plain_read")

    def __init__(self, request: Request = None) -> None:  # type: ignore[assignment]
        self._plain_read = True  # no Cache-Control directive affects reads
        self._no_read = False
        self._no_write = False
        self._max_age: int | None = None
        if request is not None:
            header = request.headers.get("cache-control")
            if header:
                no_store, no_cache, max_age = _parse_cache_control(header)
                self._no_read = no_store or no_cache or max_age == 0
                self._no_write = no_store
                self._max_age = max_age
                self._plain_read = not self._no_read and max_age is None

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def load_config(cls, settings: Callable[[], Any]) -> Callable[[], Any]:
        """Configures the cache from a function returning ``(name, value)`` pairs or a pydantic
        ``BaseSettings``. Use it as a decorator at startup. Calling it again reconfigures the
        process: the previous backend is dropped (an in-memory cache starts empty) and the next
        operation opens the new one."""
        global _runtime
        config = CachetteConfig(**read_settings(settings()))
        _runtime = _Runtime(config)
        if config.backend in ("inmemory", "pickle"):
            _runtime.start()  # local stores open now, so a bad path fails at startup
        return settings

    @classmethod
    def config(cls) -> CachetteConfig:
        """The configuration in force."""
        return _runtime.config

    @classmethod
    def stats(cls) -> dict[str, int]:
        """Counters of this process's backend: hits, misses, evictions, expirations, entries,
        bytes and capacity for the local stores (see docs/configuration.md)."""
        return _runtime.start().stats()

    # -- operations ----------------------------------------------------------------------

    @overload
    async def fetch(self, key: str) -> Any: ...
    @overload
    async def fetch(self, key: str, *, model: type[M]) -> M | None: ...

    async def fetch(self, key: str, *, model: type[BaseModel] | None = None) -> Any:
        """The value under ``key``, or None when it is absent or expired. With ``model``, the
        decoded value is validated into that pydantic model (``model.model_validate``)."""
        rt = _runtime
        if not self._plain_read:
            if self._no_read:
                return None
            raw = (await self._fetch_fresh(rt, key))[1]
        else:
            store = rt.store
            try:
                if store is not None:
                    if rt.text and model is None:
                        return store.get_text(key)
                    raw = store.get(key)
                else:
                    raw = await self._guard(rt, rt.start().fetch(key), None)
            except TypeError:
                if not isinstance(key, str):
                    raise _bad_key(key) from None
                raise
        if raw is None:
            return None
        try:
            value = rt.decode(raw)
        except Exception:
            value = rt.codec.decode(raw)  # the complete decoder, or CodecError
        return value if model is None else model.model_validate(value)

    @overload
    async def fetch_with_ttl(self, key: str) -> tuple[int, Any]: ...
    @overload
    async def fetch_with_ttl(self, key: str, *, model: type[M]) -> tuple[int, M | None]: ...

    async def fetch_with_ttl(
        self, key: str, *, model: type[BaseModel] | None = None
    ) -> tuple[int, Any]:
        """``(remaining_seconds, value)``; ``(-1, None)`` when absent or expired. An entry
        with less than a second left reports 1; one that never expires reports -1. With
        ``model``, the value is validated into that pydantic model."""
        rt = _runtime
        if self._no_read:
            return -1, None
        ttl_ms, raw = await self._fetch_fresh(rt, key)
        if raw is None:
            return -1, None
        seconds = -1 if ttl_ms < 0 else math.ceil(ttl_ms / 1000)
        try:
            value = rt.decode(raw)
        except Exception:
            value = rt.codec.decode(raw)  # the complete decoder, or CodecError
        return seconds, value if model is None else model.model_validate(value)

    async def put(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Stores ``value`` under ``key`` for ``ttl`` seconds (None or 0: the configured ttl)."""
        rt = _runtime
        if self._no_write:
            return
        if type(key) is not str and not isinstance(key, str):
            raise _bad_key(key)
        if ttl is None or ttl == 0:
            ttl_ms = rt.ttl_ms
        elif type(ttl) is int and ttl > 0:
            ttl_ms = ttl * 1000
        elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl > 0:
            ttl_ms = max(1, int(ttl * 1000))
        else:
            raise CachetteValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        store = rt.store
        if store is not None:
            if rt.text and type(value) is str:
                try:
                    store.put_text(key, value, ttl_ms)
                    return
                except UnicodeEncodeError:
                    pass  # lone surrogates: the codec's own encoding decides
        try:
            data = rt.encode(value)
        except Exception:
            # the codec's complete encoder: values the fast path refuses (pydantic models under
            # orjson), or CodecError naming the codec and the type; nothing is written then
            data = rt.codec.encode(value)
        if store is not None:
            store.put(key, data, ttl_ms)
        else:
            await self._guard(rt, rt.start().put(key, data, ttl_ms), None)

    async def clear(self, namespace: str | None = None, key: str | None = None) -> int:
        """Removes every key starting with ``namespace + ":"`` when a namespace is given,
        else the single ``key``; returns how many entries were removed."""
        rt = _runtime
        backend = rt.start()
        if namespace:
            if not isinstance(namespace, str):
                raise CachetteValueError(f"namespace must be str, not {type(namespace).__name__}")
            return await self._guard(rt, backend.clear_namespace(namespace), 0)
        if key is not None:
            if not isinstance(key, str):
                raise _bad_key(key)
            return await self._guard(rt, backend.clear_key(key), 0)
        return 0

    async def flush(self) -> int:
        """Removes every entry of this cache; returns how many."""
        rt = _runtime
        return await self._guard(rt, rt.start().flush(), 0)

    async def flush_expired(self) -> int:
        """Reclaims expired entries; returns how many (0 where the server expires them itself)."""
        rt = _runtime
        return await self._guard(rt, rt.start().flush_expired(), 0)

    # -- helpers -------------------------------------------------------------------------

    async def _fetch_fresh(self, rt: _Runtime, key: str) -> tuple[int, bytes | None]:
        """(ttl_ms, raw value) honouring max-age; (-1, None) when missing or too old."""
        if not isinstance(key, str):
            raise _bad_key(key)
        store = rt.store
        if store is not None:
            hit = store.get_with_ttl(key)
            if hit is None:
                return -1, None
            ttl_ms, age_ms, raw = hit
            if self._max_age is not None and age_ms > self._max_age * 1000:
                return -1, None
            return ttl_ms, raw
        result = await self._guard(rt, rt.start().fetch_with_ttl(key), None)
        if result is None:
            return -1, None
        if self._max_age is not None:
            # Network backends do not record write times; the age is known only for entries
            # written with the configured ttl (see docs/cache-control.md).
            if rt.ttl_ms - result[0] > self._max_age * 1000:
                return -1, None
        return result

    @staticmethod
    async def _guard(rt: _Runtime, pending: Awaitable[T], fallback: T) -> T:
        if not rt.config.fail_open:
            return await pending
        try:
            return await pending
        except _FAIL_OPEN_ERRORS:
            return fallback
