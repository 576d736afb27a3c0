"""``memoize``, and the keys it stores results under: exact, or refused.

A memoized result may be served to any later caller whose arguments give the same key, in any
process sharing the backend. So a key must be built from everything that determines the result
(DESIGN.md §8), encoded so that no two different argument lists give one key, and the same in
every process. An argument whose text is not stable is refused, never keyed:

- ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes`` and the containers ``tuple``,
  ``list``, ``dict``, ``set`` and ``frozenset`` of such values are encoded by value (sets in a
  sorted order, which ``repr`` does not give: it follows string hashing, which differs between
  processes);
- dataclass instances and pydantic models are encoded field by field (every field, including
  those their ``repr`` leaves out), with their class's qualified name;
- any other object is keyed by its class's qualified name and its ``repr``, unless that repr is
  the default one (``<X object at 0x...>``: the class defines none), shows a memory address
  (`` at 0x...``: functions, methods, many library objects) or is elided (``...``, as numpy and
  pandas shorten large values): those raise ``CachetteValueError`` naming the parameter.

The encoding is JSON (ASCII, compact) of ``[[name, value], ...]`` with every non-scalar tagged
by its kind, which makes it injective: different argument lists give different text.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from cachette._core import DEFAULT_LOCK_TIMEOUT
from cachette.exceptions import CachetteValueError
from cachette.validation import ttl_ms

__all__ = ["ArgumentKeys", "memoize"]

T = TypeVar("T")
P = ParamSpec("P")

#: CPython's spelling of an object's address in a repr (``<function f at 0x7f...>``).
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")
_MAX_DEPTH = 32
_SCALARS = (type(None), bool, int, float, str)


class ArgumentKeys:
    """Builds the key of one call of a memoized function ``fn``."""

    __slots__ = ("_ignore", "_name", "_prefix", "_signature")

    def __init__(self, fn: Callable[..., Any], prefix: str, ignore: Iterable[str] = ()) -> None:
        self._signature = inspect.signature(fn)
        self._prefix = prefix
        self._name = f"{fn.__module__}.{fn.__qualname__}"
        self._ignore = frozenset(ignore)
        unknown = self._ignore - set(self._signature.parameters)
        if unknown:
            raise CachetteValueError(
                f"memoize(ignore=...) names {sorted(unknown)}, which {self._name} does not take"
            )

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        parts = [
            [name, self._encode(value, name, 0)]
            for name, value in bound.arguments.items()
            if name not in self._ignore
        ]
        return f"{self._prefix}:{json.dumps(parts, separators=(',', ':'))}"

    def _encode(self, value: Any, where: str, depth: int) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value  # JSON keeps these apart: null, true, 1, 1.0, "1", NaN, Infinity
        if depth > _MAX_DEPTH:
            raise self._refuse(where, value, "is nested too deeply")
        depth += 1
        if kind is bytes:
            return ["bytes", value.hex()]
        if kind is tuple or kind is list:
            return [
                kind.__name__,
                [self._encode(v, f"{where}[{i}]", depth) for i, v in enumerate(value)],
            ]
        if kind is dict:
            return [
                "dict",
                [
                    [
                        self._encode(k, f"{where} key", depth),
                        self._encode(v, f"{where}[{k!r}]", depth),
                    ]
                    for k, v in value.items()
                ],
            ]
        if kind is set or kind is frozenset:
            items = [self._encode(v, f"{where} item", depth) for v in value]
            items.sort(key=lambda item: json.dumps(item, separators=(",", ":")))
            return [kind.__name__, items]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return [
                "dataclass",
                _qualified(kind),
                [
                    [f.name, self._encode(getattr(value, f.name), f"{where}.{f.name}", depth)]
                    for f in dataclasses.fields(value)
                ],
            ]
        if isinstance(value, BaseModel):
            return [
                "model",
                _qualified(kind),
                [[n, self._encode(v, f"{where}.{n}", depth)] for n, v in value],
            ]
        if getattr(kind, "__repr__", None) is object.__repr__:
            raise self._refuse(where, value, "has the default repr, which shows its address")
        try:
            text = repr(value)
        except Exception as exc:
            raise self._refuse(where, value, f"has a repr that raised {exc!r}") from None
        if _ADDRESS.search(text):
            raise self._refuse(where, value, f"has a repr that shows an address ({text[:80]})")
        if "..." in text:
            raise self._refuse(where, value, f"has an elided repr ({text[:80]})")
        return ["repr", _qualified(kind), text]

    def _refuse(self, where: str, value: Any, why: str) -> CachetteValueError:
        name = where.split("[")[0].split(".")[0].split(" ")[0]
        return CachetteValueError(
            f"memoize cannot key {self._name}: argument {name!r}"
            f"{'' if where == name else f' (at {where})'} of type "
            f"{_qualified(type(value))} {why}. A key built from it would not be the same in "
            "every process, or could be shared by different values, and a memoized result "
            "could reach another caller. Pass memoize(ignore=("
            f"{name!r},)) if it does not change the result, or memoize(key=...) to build the "
            "key yourself from what determines the result."
        )


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def memoize(
    ttl: float | None = None,
    *,
    key: Callable[..., str] | None = None,
    ignore: Iterable[str] = (),
    namespace: str | None = None,
    lock: bool = True,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    lock_ttl: float | None = None,
    refresh_ahead: float | None = None,
    stale_if_error: float | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Memoizes an async function in the configured cache, with stampede protection.

    The key is ``namespace + ":"`` and an exact encoding of the bound arguments (defaults
    applied), the namespace defaulting to ``module.qualname``, so ``clear(namespace=...)``
    forgets every result of one function (see ``ArgumentKeys``). An argument that
    cannot be keyed exactly (a default ``<X object at 0x...>`` repr, an address, an elided
    repr) raises ``CachetteValueError`` naming it, at the call, before the function runs:
    list it in ``ignore`` when it does not change the result (a database session, a
    logger), or pass ``key``: a function of the same arguments returning the whole key.
    The wrapper's ``key_for(*args, **kwargs)`` gives the key of a call, e.g. to clear it.
    A result of None is returned but not stored.
    """
    if ttl is not None:
        ttl_ms(ttl, 1)  # a bad ttl fails here, when the function is decorated
    ignored = tuple(ignore)
    if key is not None and ignored:
        raise CachetteValueError("memoize takes key= or ignore=, not both")

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"memoize needs an async function, not {fn!r}")
        prefix = namespace or f"{fn.__module__}.{fn.__qualname__}"
        keys = ArgumentKeys(fn, prefix, ignored)

        def key_for(*args: Any, **kwargs: Any) -> str:
            if key is not None:
                return key(*args, **kwargs)
            return keys.key(args, kwargs)

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            from cachette.core import Cachette

            result: T = await Cachette().get_or_set(
                key_for(*args, **kwargs),
                lambda: fn(*args, **kwargs),
                ttl,
                lock=lock,
                lock_timeout=lock_timeout,
                lock_ttl=lock_ttl,
                refresh_ahead=refresh_ahead,
                stale_if_error=stale_if_error,
            )
            return result

        wrapper.key_for = key_for  # type: ignore[attr-defined]
        return wrapper

    return decorate
