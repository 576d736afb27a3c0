"""FastAPI: the fast way to receive a ``Cachette`` in a handler.

FastAPI runs every dependency that is not a coroutine function in its threadpool, and a class
is never one, so the 0.1.x idiom ``cachette: Cachette = Depends()`` pays a thread hop per
request (about a hundred microseconds, far more than an in-memory fetch). An ``async def``
provider runs on the event loop with no hop; ``CachetteDep`` is that provider, annotated::

    from cachette.asgi.fastapi import CachetteDep

    @app.get("/{key}")
    async def getter(key: str, cachette: CachetteDep):
        return await cachette.fetch(key)

Cache-Control is honoured exactly as with ``Depends()``: the provider receives the request.
``Depends()`` keeps working unchanged. See docs/frameworks.md for the measured costs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cachette.core import Cachette

__all__ = ["CachetteDep", "provide"]


async def provide(request: Request) -> Cachette:
    """A ``Cachette`` honouring the request's Cache-Control, built on the event loop."""
    return Cachette(request)


CachetteDep = Annotated[Cachette, Depends(provide)]
