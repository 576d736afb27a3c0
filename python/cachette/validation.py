"""The one validation of keys and durations that every operation uses.

A key is any ``str`` that has a UTF-8 form; a ttl is a finite number of seconds greater than 0
and at most ``MAX_TTL``. Anything else raises ``CachetteValueError`` before a store is touched,
whichever operation received it (``put``, ``put_many``, ``get_or_set``, ``memoize``, the reads
and the clears), so that a call either writes everything it was given or nothing.

The hot paths do not call these first: they pass the key straight to the engine, whose binding
refuses what it cannot encode, and call ``check_key`` only then to raise the typed error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from cachette.exceptions import CachetteValueError

__all__ = [
    "MAX_TTL",
    "bad_key",
    "check_key",
    "check_keys",
    "key_list",
    "pair_list",
    "seconds",
    "ttl_ms",
]

#: The longest ttl a call may ask for, in seconds (30 days): the same on every backend, and
#: memcached's own limit for relative expiry times.
MAX_TTL = 30 * 24 * 3600


def bad_key(key: object) -> CachetteValueError:
    """The error for a key the stores cannot take."""
    if isinstance(key, str):
        # The binding refuses str it cannot encode as UTF-8 (lone surrogates).
        return CachetteValueError(
            f"cache keys must be valid Unicode text; {key!r} holds a lone surrogate, which "
            "has no UTF-8 form (decode such keys with errors='surrogateescape' or re-encode them)"
        )
    return CachetteValueError(f"cache keys must be str, not {type(key).__name__}")


def check_key(key: object) -> None:
    """Raises ``CachetteValueError`` for a key that is not a str with a UTF-8 form."""
    if not isinstance(key, str):
        raise bad_key(key)
    try:
        key.encode()
    except UnicodeEncodeError:
        raise bad_key(key) from None


def check_keys(keys: list[str]) -> None:
    """``check_key`` for each key: all of them are valid, or nothing happens."""
    for key in keys:
        check_key(key)


def ttl_ms(ttl: object, default_ms: int) -> int:
    """Milliseconds for a call's ``ttl`` in seconds; None or 0 mean the configured ttl
    (``default_ms``; 0 as in 0.1.x, where ``ttl or default`` was used)."""
    if ttl is None or ttl == 0:
        return default_ms
    if type(ttl) is int and 0 < ttl <= MAX_TTL:
        return ttl * 1000
    if isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        if ttl > MAX_TTL and math.isfinite(ttl):
            raise CachetteValueError(
                f"ttl must be at most {MAX_TTL} seconds (30 days), not {ttl!r}"
            )
        if ttl > 0 and math.isfinite(ttl):
            return max(1, int(ttl * 1000))
    raise CachetteValueError(
        f"ttl must be a positive, finite number of seconds up to {MAX_TTL}, not {ttl!r}"
    )


def seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A duration argument other than the ttl (``lock_timeout``, ``lock_ttl``,
    ``refresh_ahead``, ``stale_if_error``): finite, greater than 0 (or 0 when allowed), at
    most ``MAX_TTL``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (value > 0 or (allow_zero and value == 0)) and value <= MAX_TTL:
            if math.isfinite(value):
                return float(value)
    zero = "0 or more" if allow_zero else "greater than 0"
    raise CachetteValueError(
        f"{name} must be a finite number of seconds, {zero} and at most {MAX_TTL}, not {value!r}"
    )


def pair_list(items: object) -> list[tuple[str, Any]]:
    """``put_many``'s items as a list of ``(key, value)`` pairs: a mapping, or an iterable
    of pairs (not a str or bytes); anything else raises ``CachetteValueError``."""
    if isinstance(items, Mapping):
        return list(items.items())
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise CachetteValueError(
            "put_many takes a mapping or an iterable of (key, value) pairs, not "
            f"{type(items).__name__}"
        )
    pairs = list(items)
    for pair in pairs:
        if type(pair) is not tuple or len(pair) != 2:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise CachetteValueError(
                    f"put_many takes (key, value) pairs; {pair!r:.80} is not one"
                )
    return [(key, value) for key, value in pairs]


def key_list(keys: object) -> list[str]:
    """``fetch_many``'s keys as a list of str (not a str itself, which would be read as its
    characters); anything else raises ``CachetteValueError``."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
        raise CachetteValueError(
            f"fetch_many takes an iterable of str keys, not {type(keys).__name__}"
        )
    out = list(keys)
    for key in out:
        if type(key) is not str:
            check_key(key)
    return out
