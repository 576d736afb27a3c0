"""``Cachette``: the object request handlers receive through dependency injection.

Building one costs about a microsecond: the backend, its connections and the codec are
shared by every instance in the process and created once, lazily, by ``_Runtime``.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

from cachette import stampede
from cachette._core import DEFAULT_LOCK_TIMEOUT
from cachette.backends import Backend, create_backend
from cachette.codecs import Codec, load_codec
from cachette.config import CachetteConfig
from cachette.exceptions import (
    CachetteConnectionError,
    CachetteTimeoutError,
    CachetteValueError,
)
from cachette.startup import checked_config
from cachette.validation import MAX_TTL
from cachette.validation import bad_key as _bad_key
from cachette.validation import check_key as _check_key
from cachette.validation import check_keys as _check_keys
from cachette.validation import key_list as _key_list
from cachette.validation import pair_list as _pair_list
from cachette.validation import ttl_ms as _ttl_ms

if TYPE_CHECKING:
    from cachette._core import Store

try:  # FastAPI and Starlette inject the current request into a parameter typed Request.
    from starlette.requests import Request
except ImportError:  # pragma: no cover - starlette is optional
    Request = None  # type: ignore[assignment,misc]

__all__ = ["MAX_TTL", "Cachette"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_FAIL_OPEN_ERRORS = (CachetteConnectionError, CachetteTimeoutError)


class _Runtime:
    """Process-wide state: the configuration and, once used, its backend and codec."""

    __slots__ = (
        "_starting",
        "backend",
        "codec",
        "config",
        "decode",
        "encode",
        "fetch_many_text",
        "fetch_text",
        "read_bytes",
        "read_text",
        "store",
        "text",
        "ttl_ms",
        "write_text",
    )

    def __init__(self, config: CachetteConfig) -> None:
        self._starting = threading.Lock()
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
        # The local store's hit path as plain C functions of one key (Store.text_reader):
        # read_text is set only when the codec's values are the stored text itself.
        self.read_text: Callable[[str], str | None] | None = None
        self.read_bytes: Callable[[str], bytes | None] | None = None
        self.write_text: Callable[[str, str, int], None] | None = None
        # A network backend's reads that decode in the engine (Backend.fetch_text), set when
        # the codec is text.
        self.fetch_text: Callable[[str], Awaitable[str | None]] | None = None
        self.fetch_many_text: Callable[[list[str]], Awaitable[list[str | None]]] | None = None

    def start(self) -> Backend:
        """The backend, created on first use: once per process, whatever the number of
        threads (each with its own event loop) that make their first call together."""
        backend = self.backend
        if backend is not None:
            return backend
        with self._starting:
            backend = self.backend
            if backend is None:
                backend = create_backend(self.config)
                store = backend.local_store
                if store is not None:
                    self.read_bytes = store.bytes_reader()
                    self.read_text = store.text_reader() if self.text else None
                    self.write_text = store.text_writer() if self.text else None
                if self.text:
                    self.fetch_text = backend.fetch_text
                    self.fetch_many_text = backend.fetch_many_text
                self.store = store
                # Published last: a thread that sees the backend sees everything it serves.
                # Two threads creating one each would leave one dropped, and a dropped
                # backend closes its client under the calls already sent through it.
                self.backend = backend
        return backend

    def forget_backend(self) -> None:
        self._starting = threading.Lock()  # after fork: a lock held by a parent thread
        self.backend = None
        self.store = None
        self.read_text = self.read_bytes = self.write_text = None
        self.fetch_text = self.fetch_many_text = None


_runtime = _Runtime(CachetteConfig())
# The configuration's request_cache_control, read by every Cachette(request): a module global
# costs less than reaching through the runtime on each construction.
_honour_request = True


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
        if request is not None and _honour_request:
            header = request.headers.get("cache-control")
            if header:
                no_store, no_cache, max_age = _parse_cache_control(header)
                self._no_read = no_store or no_cache or max_age == 0
                self._no_write = no_store
                self._max_age = max_age
                self._plain_read = not self._no_read and max_age is None

    # How dependency injection sees this class (docs/frameworks.md). FastAPI, Starlette and
    # Litestar read inspect.signature(Cachette): one optional ``request``, typed with
    # Starlette's Request, which they inject. rodi (BlackSheep's container) reads
    # ``__init__`` instead and refuses any parameter it has no service for: it is shown an
    # ``__init__`` of no parameter (as 0.1.x's was), so ``add_scoped(Cachette)`` works with
    # no setup and builds ``Cachette()``; ``cachette.asgi.blacksheep.setup(app)`` adds the
    # request's Cache-Control.
    __signature__ = inspect.Signature(
        [
            inspect.Parameter(
                "request",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=inspect.Parameter.empty if Request is None else Request,
            )
        ]
    )
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def load_config(cls, settings: Callable[[], Any]) -> Callable[[], Any]:
        """Configures the cache from a function returning ``(name, value)`` pairs or a pydantic
        ``BaseSettings``. Use it as a decorator at startup. Calling it again reconfigures the
        process: the previous backend is dropped (an in-memory cache starts empty) and the next
        operation opens the new one."""
        global _runtime, _honour_request
        config = checked_config(settings())
        runtime = _Runtime(config)
        if config.backend in ("inmemory", "pickle"):
            # Local stores open now, so a bad path fails at startup; the configuration in
            # force is replaced only once the new one has opened (a failure changes nothing).
            runtime.start()
        _runtime = runtime
        _honour_request = config.request_cache_control
        return settings

    @classmethod
    def config(cls) -> CachetteConfig:
        """The configuration in force."""
        return _runtime.config

    @classmethod
    def stats(cls) -> dict[str, int]:
        """Counters of this process's backend: hits, misses, evictions, expirations, entries,
        bytes and capacity for the local stores (see docs/configuration.md); and of its
        stampede protection: coalesced_waits, lock_waits, lock_timeouts, early_refreshes,
        stale_serves, store_failures (see docs/stampede.md)."""
        return {**_runtime.start().stats(), **stampede.stats()}

    # -- operations ----------------------------------------------------------------------

    @overload
    async def fetch(self, key: str) -> Any: ...
    @overload
    async def fetch(self, key: str, *, model: type[M]) -> M | None: ...

    async def fetch(self, key: str, *, model: type[BaseModel] | None = None) -> Any:
        """The value under ``key``, or None when it is absent or expired. With ``model``, the
        decoded value is validated into that pydantic model (``model.model_validate``)."""
        rt = _runtime
        read_text = rt.read_text
        if read_text is not None and model is None and self._plain_read:
            # The in-memory hit path with the vanilla codec: one C call, nothing else.
            try:
                return read_text(key)
            except TypeError:
                _check_key(key)
                raise
        if not self._plain_read:
            if self._no_read:
                return None
            raw = (await self._fetch_fresh(rt, key))[1]
        else:
            read_bytes = rt.read_bytes
            try:
                if read_bytes is not None:
                    raw = read_bytes(key)
                elif rt.fetch_text is not None and model is None:
                    # The engine decodes the reply (vanilla codec): nothing left to do here.
                    if rt.config.fail_open:
                        return await self._guard(rt, rt.fetch_text(key), None)
                    return await rt.fetch_text(key)
                else:
                    raw = await self._guard(rt, rt.start().fetch(key), None)
            except TypeError:
                _check_key(key)
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
        if self._no_write:  # Cache-Control: no-store; the arguments are checked all the same
            _check_key(key)
            _ttl_ms(ttl, rt.ttl_ms)
            return
        if type(key) is not str and not isinstance(key, str):
            raise _bad_key(key)
        if ttl is None or ttl == 0:
            ttl_ms = rt.ttl_ms
        elif type(ttl) is int and 0 < ttl <= MAX_TTL:
            ttl_ms = ttl * 1000
        else:
            ttl_ms = _ttl_ms(ttl, rt.ttl_ms)
        store = rt.store
        if store is not None:
            write_text = rt.write_text
            if write_text is not None and type(value) is str:
                try:
                    write_text(key, value, ttl_ms)
                    return
                except UnicodeEncodeError:
                    pass  # lone surrogates: the codec's own encoding decides
                except TypeError:
                    _check_key(key)
                    raise
        try:
            data = rt.encode(value)
        except Exception:
            # the codec's complete encoder: values the fast path refuses (pydantic models under
            # orjson), or CodecError naming the codec and the type; nothing is written then
            data = rt.codec.encode(value)
        try:
            if store is not None:
                store.put(key, data, ttl_ms)
            else:
                await self._guard(rt, rt.start().put(key, data, ttl_ms), None)
        except TypeError:
            _check_key(key)
            raise

    async def clear(self, namespace: str | None = None, key: str | None = None) -> int:
        """Removes every key starting with ``namespace + ":"`` when a namespace is given,
        else the single ``key``; returns how many entries were removed."""
        rt = _runtime
        backend = rt.start()
        if namespace:
            if not isinstance(namespace, str):
                raise CachetteValueError(f"namespace must be str, not {type(namespace).__name__}")
            try:
                return await self._guard(rt, backend.clear_namespace(namespace), 0)
            except TypeError:
                _check_key(namespace)
                raise
        if key is not None:
            _check_key(key)
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

    # -- stampede protection and bulk operations (docs/stampede.md) ----------------------

    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Awaitable[T]],
        ttl: float | None = None,
        *,
        lock: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        lock_ttl: float | None = None,
        refresh_ahead: float | None = None,
        stale_if_error: float | None = None,
    ) -> T:
        """The value under ``key``; on a miss, ``await factory()`` computed once for every
        concurrent caller (in this process: one task; across processes: one holder of a lock
        in the backend), stored for ``ttl`` seconds (None: the configured ttl) and returned.

        - ``lock``: take the backend lock (False: coalesce within the process only).
        - ``lock_ttl`` (default: ``lock_timeout``): how long the lock lives, so how long a
          computation may take before another process may start one too; a lock whose owner
          died frees itself then.
        - ``lock_timeout``: a caller that finds the lock taken waits for the owner's value
          while the lock is held, at most ``max(lock_timeout, lock_ttl)`` seconds, then
          computes itself.
        - ``refresh_ahead``: within this many seconds of the end of the ttl, one caller
          refreshes the entry in the background while every caller gets the current value.
        - ``stale_if_error``: the entry is kept this many seconds past its ttl; a caller that
          finds it stale recomputes and, if the factory raises, gets the stale value.

        A factory that raises propagates to every caller waiting on it and stores nothing;
        a result of None is returned but not stored. A store that refuses the write (full)
        or fails it does not lose the value: it is returned, and the failure counted
        (``store_failures``) and logged at most once a minute.
        """
        _check_key(key)
        rt = _runtime
        policy = stampede.Policy(
            _ttl_ms(ttl, rt.ttl_ms) / 1000,
            lock=lock,
            lock_timeout=lock_timeout,
            lock_ttl=lock_ttl,
            refresh_ahead=refresh_ahead,
            stale_if_error=stale_if_error,
        )
        result: T = await stampede.get_or_set(self, rt, key, factory, policy)
        return result

    async def fetch_many(self, keys: Sequence[str]) -> list[Any]:
        """The values under ``keys``, in order; None where absent or expired. Network
        backends fetch them in one pipelined round trip per server."""
        rt = _runtime
        keys = _key_list(keys)  # a list of str, or CachetteValueError
        if not self._plain_read:
            _check_keys(keys)
            if self._no_read:
                return [None] * len(keys)
            # max-age: each entry's age decides
            raws = [(await self._fetch_fresh(rt, key))[1] for key in keys]
        else:
            # The engine refuses a key it cannot take before sending anything; the typed
            # error is raised then (no check on the way in: this is a read path).
            try:
                store = rt.store
                if store is not None:
                    raws = [store.get(key) for key in keys]
                else:
                    backend = rt.start()
                    text = rt.fetch_many_text
                    if text is not None:  # decoded by the engine (vanilla codec): done
                        return await self._guard(rt, text(keys), [None] * len(keys))
                    raws = await self._guard(rt, backend.fetch_many(keys), [None] * len(keys))
            except (TypeError, UnicodeEncodeError):
                _check_keys(keys)
                raise
        return [None if raw is None else stampede._decode(rt, raw) for raw in raws]

    async def put_many(
        self, items: Mapping[str, Any] | Iterable[tuple[str, Any]], ttl: int | None = None
    ) -> None:
        """Stores every ``(key, value)`` for ``ttl`` seconds (None: the configured ttl), in
        one pipelined round trip per server on network backends. Every value is encoded
        before anything is written, so a value the codec refuses stores nothing."""
        rt = _runtime
        pairs = _pair_list(items)  # (key, value) pairs, or CachetteValueError
        # Every key and the ttl are checked, and every value encoded, before anything is
        # written: a call that raises has written nothing.
        ttl_ms = _ttl_ms(ttl, rt.ttl_ms)
        for key, _ in pairs:
            _check_key(key)
        if self._no_write:
            return
        encoded: list[tuple[str, bytes]] = []
        for key, value in pairs:
            try:
                data = rt.encode(value)
            except Exception:
                data = rt.codec.encode(value)  # the complete encoder, or CodecError
            encoded.append((key, data))
        store = rt.store
        if store is not None:
            # A value the store can never hold is refused before the first write; a write
            # that fails anyway (a full disk) removes the keys this call wrote before it.
            too_large = _entry_too_large(rt)
            for key, data in encoded:
                too_large(key, data)
            written: list[str] = []
            try:
                for key, data in encoded:
                    store.put(key, data, ttl_ms)
                    written.append(key)
            except BaseException:
                for key in written:
                    try:
                        store.erase(key)
                    except Exception:
                        pass
                raise
        else:
            await self._guard(rt, rt.start().put_many(encoded, ttl_ms), None)

    # -- helpers -------------------------------------------------------------------------

    async def _fetch_fresh(self, rt: _Runtime, key: str) -> tuple[int, bytes | None]:
        """(ttl_ms, raw value) honouring max-age; (-1, None) when missing or too old."""
        if not isinstance(key, str):
            raise _bad_key(key)
        store = rt.store
        if store is not None:
            try:
                hit = store.get_with_ttl(key)
            except TypeError:
                _check_key(key)
                raise
            if hit is None:
                return -1, None
            ttl_ms, age_ms, raw = hit
            if self._max_age is not None and age_ms > self._max_age * 1000:
                return -1, None
            return ttl_ms, raw
        try:
            result = await self._guard(rt, rt.start().fetch_with_ttl(key), None)
        except TypeError:
            _check_key(key)
            raise
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


def _entry_too_large(rt: _Runtime) -> Callable[[str, bytes], None]:
    """A check raising ``CachetteValueTooLargeError`` for an entry the local store would
    refuse as too large: the engine's own rules (src/memory/memory_store.cpp put_stamped,
    include/cachette/detail/file_format.hpp entry_charge), pinned by test_validation."""
    from cachette._core import DEFAULT_MEMORY_SHARDS
    from cachette.exceptions import CachetteValueTooLargeError

    config = rt.config
    if config.backend == "inmemory":
        budget = config.max_memory // DEFAULT_MEMORY_SHARDS

        def memory(key: str, data: bytes) -> None:
            charge = 40 + len(key.encode()) + len(data)
            if charge > budget:
                raise CachetteValueTooLargeError(
                    f"memory store: an entry of {charge} bytes exceeds the limit of {budget} "
                    "bytes per entry (max_memory / shards); put_many wrote nothing"
                )

        return memory
    max_size = config.pickle_max_size or 0

    def file(key: str, data: bytes) -> None:
        size = len(key.encode())
        stored = size if 0 < size <= 448 else 480
        charge = 2 * stored + 24 + (size if size > 448 else 0) + len(data) + 40
        if len(data) > (512 << 20) or (max_size and charge > max_size):
            raise CachetteValueTooLargeError(
                f"file store: an entry of {charge} bytes can never fit within "
                f"pickle_max_size ({max_size} bytes); put_many wrote nothing"
            )

    return file
