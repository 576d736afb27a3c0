"""Invalidation from code, usable anywhere (a request handler, a task, a script): the
functions need only the namespace the ``HttpCache`` was given, not the middleware itself."""

from __future__ import annotations

from urllib.parse import urlsplit

from cachette.exceptions import CachetteValueError
from cachette.http.store import (
    ResponseStore,
    canonical_path,
    namespace_generation,
    path_generation,
    path_prefix,
    primary_key,
)

__all__ = ["invalidate_namespace", "invalidate_path", "invalidate_url"]


async def invalidate_url(url: str, *, namespace: str = "default", key_host: bool = True) -> int:
    """Removes the stored response of an absolute URL, every ``Vary`` variant included;
    returns how many records were removed (0 or 1). ``key_host`` must match the cache's."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise CachetteValueError(f"invalidate_url needs an absolute URL, not {url!r}")
    host = parts.netloc if key_host else ""
    key = primary_key(namespace, canonical_path(parts.path or "/"), parts.scheme, host, parts.query)
    return await ResponseStore(fail_open=False).invalidate_key(key)


async def invalidate_path(path: str, *, namespace: str = "default") -> int:
    """Removes the stored responses of ``path`` for every host and query string."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise CachetteValueError(f"invalidate_path needs a path starting with /, not {path!r}")
    path = canonical_path(path)
    prefix = path_prefix(namespace, path)
    return await ResponseStore(fail_open=False).invalidate_prefix(
        prefix, path_generation(namespace, path)
    )


async def invalidate_namespace(namespace: str = "default") -> int:
    """Removes every stored response of the caches that use ``namespace``."""
    if not isinstance(namespace, str) or not namespace:
        raise CachetteValueError("namespace must be a non-empty str")
    return await ResponseStore(fail_open=False).invalidate_prefix(
        path_prefix(namespace, "")[:-1], namespace_generation(namespace)
    )
