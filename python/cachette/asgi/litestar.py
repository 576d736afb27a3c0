"""Litestar: ``Provide(Cachette)`` works as it is. Litestar injects its own request into the
parameter named ``request`` and its headers answer ``get("cache-control")`` as Starlette's
do, so Cache-Control is honoured. Litestar 2.x warns, though, that the parameter is typed
with Starlette's ``Request`` rather than its own, and says that will stop working in 3.0.

``provide`` is the forward-compatible provider: a function whose ``request`` is typed with
Litestar's ``Request``, with ``sync_to_thread=False`` (building a ``Cachette`` never blocks)::

    from litestar import Litestar
    from cachette.asgi.litestar import provide

    app = Litestar(route_handlers=[...], dependencies={"cachette": provide})
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from cachette.core import Cachette

__all__ = ["cachette_from_request", "provide"]


def cachette_from_request(request: Request[Any, Any, Any]) -> Cachette:
    """A ``Cachette`` honouring the request's Cache-Control header."""
    return Cachette(request)  # type: ignore[arg-type]  # duck-typed: only .headers.get is used


provide = Provide(cachette_from_request, sync_to_thread=False)
