"""``memoize``, and the keys it stores results under: exact, or refused.

A memoized result may be served to any later caller whose arguments give the same key, in any
process sharing the backend. So a key must be built from everything that determines the result
(DESIGN.md §8), encoded so that no two different argument lists give one key, and the same in
every process. An argument whose text is not stable is refused, never keyed:

- an allowlist of types whose value can be encoded exactly (builtin scalars, bytes and
  containers, dates and times, Decimal, UUID, Enum members, paths, ip addresses, fractions,
  complex, classes, dataclasses and pydantic models field by field, subclasses of builtins
  holding no state of their own, and any class with ``__cachette_key__(self) -> str``) is
  keyed by value; everything else raises ``CachetteValueError`` naming the parameter. A repr
  is not trusted: it may mask a secret (``SecretStr``), summarise (an ``UploadFile``, a numpy
  array) or show an address;
- a bound method's instance is keyed as its first argument; a function defined inside another
  needs ``namespace=`` or ``key=``; a ``functools.partial`` needs ``key=``.

The encoding is JSON (ASCII, compact) of ``[[name, value], ...]`` with every non-scalar tagged
by its kind, which makes it injective: different argument lists give different text.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import inspect
import ipaddress
import json
import pathlib
import types
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

from cachette._core import DEFAULT_LOCK_TIMEOUT
from cachette.exceptions import CachetteValueError
from cachette.validation import ttl_ms

__all__ = ["ArgumentKeys", "memoize"]

T = TypeVar("T")
P = ParamSpec("P")

_MAX_DEPTH = 32
_SCALARS = (type(None), bool, int, float, str)
#: Types whose str() holds their whole value, exactly (Decimal keeps its exponent and sign).
_TEXT_EXACT = frozenset(
    {
        decimal.Decimal,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        pathlib.PosixPath,
        pathlib.WindowsPath,
        ipaddress.IPv4Address,
        ipaddress.IPv6Address,
        ipaddress.IPv4Network,
        ipaddress.IPv6Network,
        ipaddress.IPv4Interface,
        ipaddress.IPv6Interface,
    }
)
#: Builtins a subclass may extend, and how to read its value as the exact builtin.
_BASES: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (str, str.__str__),
    (int, int.__index__),
    (float, float.__float__),
    (bytes, lambda v: b"".join([v])),
    (tuple, lambda v: tuple(tuple.__iter__(v))),
    (list, lambda v: list(list.__iter__(v))),
    (dict, lambda v: dict(dict.items(v))),
    (frozenset, lambda v: frozenset(frozenset.__iter__(v))),
    (set, lambda v: set(set.__iter__(v))),
)
_MODEL_SLOTS = frozenset({"__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__"})
#: Argument encodings longer than this are replaced by their 256-bit BLAKE2b digest.
_LONG = 1024


class ArgumentKeys:
    """Builds the key of one call of a memoized function ``fn``."""

    __slots__ = ("_ignore", "_name", "_owner", "_prefix", "_signature")

    def __init__(self, fn: Callable[..., Any], prefix: str, ignore: Iterable[str] = ()) -> None:
        self._signature = inspect.signature(fn)
        self._prefix = prefix
        self._name = f"{fn.__module__}.{fn.__qualname__}"
        self._ignore = frozenset(ignore)
        names = set(self._signature.parameters)
        # A bound method's instance (or a classmethod's class) decides its result as much as
        # its arguments: it is keyed first, under the name of the method's first parameter.
        self._owner: tuple[str, Any] | None = None
        if inspect.ismethod(fn):
            first = next(iter(inspect.signature(fn.__func__).parameters), "self")
            names.add(first)
            if first not in self._ignore:
                self._owner = (first, fn.__self__)
        unknown = self._ignore - names
        if unknown:
            raise CachetteValueError(
                f"memoize(ignore=...) names {sorted(unknown)}, which {self._name} does not take"
            )
        if self._owner is not None:
            self._encode(self._owner[1], self._owner[0], 0)  # refused now, not at each call

    def key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise CachetteValueError(f"{self._name} cannot take these arguments: {exc}") from None
        bound.apply_defaults()
        parts = [
            [name, self._encode(value, name, 0)]
            for name, value in bound.arguments.items()
            if name not in self._ignore
        ]
        if self._owner is not None:
            name, owner = self._owner
            parts.insert(0, [name, self._encode(owner, name, 0)])
        text = json.dumps(parts, separators=(",", ":"))
        if len(text) > _LONG:
            # Bounded keys: a 256-bit digest ("#" never starts the JSON form, a list).
            text = "#" + hashlib.blake2b(text.encode(), digest_size=32).hexdigest()
        return f"{self._prefix}:{text}"

    def _encode(self, value: Any, where: str, depth: int) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            if kind is int and value.bit_length() > 4000:
                return ["int", format(value, "x")]  # str() refuses over 4300 digits
            return value  # JSON keeps these apart: null, true, 1, 1.0, "1", NaN, Infinity
        if depth > _MAX_DEPTH:
            raise self._refuse(where, value, "is nested too deeply")
        depth += 1
        hook = getattr(kind, "__cachette_key__", None)
        if hook is not None:
            text = hook(value)
            if type(text) is not str:
                raise self._refuse(where, value, "has a __cachette_key__ that returned no str")
            return ["custom", _qualified(kind), text]
        if kind is bytes or kind is bytearray:
            return [kind.__name__, value.hex()]
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
        if kind in _TEXT_EXACT:  # str() of these is exact and the same in every process
            return ["text", _qualified(kind), str(value)]
        if kind is datetime.datetime or kind is datetime.time:
            naive = value.replace(tzinfo=None).isoformat()
            return [kind.__name__, naive, value.fold, self._zone(value.tzinfo, where)]
        if kind is datetime.date:
            return ["date", value.isoformat()]
        if kind is datetime.timedelta:
            return ["timedelta", value.days, value.seconds, value.microseconds]
        if kind is uuid.UUID:
            return ["uuid", value.hex]
        if kind is fractions.Fraction:
            return ["fraction", str(value)]
        if kind is complex:
            return ["complex", value.real, value.imag]
        if isinstance(value, enum.Enum):
            if value.name is None:
                raise self._refuse(where, value, "is an enum value without a member name")
            return ["enum", _qualified(kind), value.name]
        if isinstance(value, type):
            return ["type", _qualified(value)]
        if dataclasses.is_dataclass(value):
            names = [f.name for f in dataclasses.fields(value)]
            self._no_hidden_state(value, set(names), where)
            return [
                "dataclass",
                _qualified(kind),
                [[n, self._encode(getattr(value, n), f"{where}.{n}", depth)] for n in names],
            ]
        if isinstance(value, BaseModel):
            self._no_hidden_state(value, set(vars(value)) | _MODEL_SLOTS, where)
            extra = value.__pydantic_extra__
            private = value.__pydantic_private__
            return [
                "model",
                _qualified(kind),
                [[n, self._encode(v, f"{where}.{n}", depth)] for n, v in vars(value).items()],
                sorted(value.__pydantic_fields_set__),
                None if not extra else self._encode(dict(extra), f"{where} extra", depth),
                None if not private else self._encode(dict(private), f"{where} private", depth),
            ]
        for base, exact in _BASES:
            if isinstance(value, base):
                # A subclass of a builtin: keyed as its builtin value (read through the
                # builtin's own methods) with its class, if it holds no state of its own.
                self._no_hidden_state(value, set(), where)
                return ["of", _qualified(kind), self._encode(exact(value), where, depth)]
        if getattr(kind, "__repr__", None) is object.__repr__:
            raise self._refuse(where, value, "has the default repr, which shows its address")
        raise self._refuse(
            where,
            value,
            "is not a type whose value cachette can key exactly (its repr or str may hide what "
            "tells two values apart: a masked secret, a file's contents, an elided array)",
        )

    def _zone(self, tz: Any, where: str) -> Any:
        if tz is None:
            return None
        if type(tz) is datetime.timezone:
            return ["timezone", tz.utcoffset(None).total_seconds(), tz.tzname(None)]
        if type(tz) is zoneinfo.ZoneInfo and tz.key:
            return ["zoneinfo", tz.key]
        raise self._refuse(where, tz, "is a time zone other than timezone or ZoneInfo")

    def _no_hidden_state(self, value: Any, allowed: set[str], where: str) -> None:
        """Refuses ``value`` when it holds attributes outside ``allowed`` (in its ``__dict__``
        or in slots): state the key would not see."""
        extra = [n for n in getattr(value, "__dict__", {}) if n not in allowed]
        for cls in type(value).__mro__:
            for name, slot in vars(cls).items():
                if isinstance(slot, types.MemberDescriptorType) and name not in allowed:
                    try:
                        slot.__get__(value, cls)
                    except AttributeError:
                        continue
                    extra.append(name)
        if extra:
            raise self._refuse(
                where, value, f"holds attributes outside its fields ({', '.join(extra)})"
            )

    def _refuse(self, where: str, value: Any, why: str) -> CachetteValueError:
        name = where.split("[")[0].split(".")[0].split(" ")[0]
        return CachetteValueError(
            f"memoize cannot key {self._name}: argument {name!r}"
            f"{'' if where == name else f' (at {where})'} of type "
            f"{_qualified(type(value))} {why}. A key built from it would not be the same in "
            "every process, or could be shared by different values, and a memoized result "
            "could reach another caller. Pass memoize(ignore=("
            f"{name!r},)) if it does not change the result, memoize(key=...) to build the "
            "key yourself from what determines the result, or give its class a "
            "__cachette_key__(self) -> str method returning text that tells its values apart."
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
        if key is not None:
            key_for: Callable[..., str] = key
        else:
            qualname = getattr(fn, "__qualname__", None)
            if isinstance(fn, functools.partial) or not isinstance(qualname, str):
                raise CachetteValueError(
                    f"memoize cannot key {fn!r}: a functools.partial (or a callable without a "
                    "__qualname__) holds arguments its signature does not show. Pass "
                    "memoize(key=...) to build the key, or memoize an async def that calls it."
                )
            if namespace is None and "<locals>" in qualname:
                raise CachetteValueError(
                    f"memoize cannot key {fn.__module__}.{qualname}: a function defined inside "
                    "another shares its name with every other function that call made (each "
                    "closure over other values: another tenant, another user), so their "
                    "results would share keys. Pass memoize(namespace=...) unique to this "
                    "closure, or memoize(key=...) built from what the result depends on."
                )
            keys = ArgumentKeys(fn, namespace or f"{fn.__module__}.{qualname}", ignored)

            def key_for(*args: Any, **kwargs: Any) -> str:
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
