"""BlackSheep: ``app.services.add_scoped(Cachette)`` builds one per request, as in 0.1.x.

rodi, BlackSheep's container, builds a class from its ``__init__`` and refuses any parameter
it has no service for. ``Cachette`` shows it an ``__init__`` of no parameter (FastAPI and
Litestar read the class's own signature, with its ``request``), so a 0.1.x app works
unchanged: ``add_scoped(Cachette)``, no other call. Such a ``Cachette`` does not see the
request; ``setup(app)`` adds that, so the request's ``Cache-Control`` is honoured as it is
under FastAPI::

    from blacksheep import Application
    from cachette import Cachette
    from cachette.asgi.blacksheep import setup

    app = Application()
    setup(app)                       # optional: honour Cache-Control
    app.services.add_scoped(Cachette)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from blacksheep.messages import Request as BlackSheepRequest
from blacksheep.messages import Response
from blacksheep.middlewares import MiddlewareCategory
from blacksheep.server.di import di_scope_middleware, register_http_context
from rodi import Container

from cachette.core import Cachette

if TYPE_CHECKING:
    from blacksheep import Application

__all__ = ["RequestHeaders", "setup"]

#: di_scope_middleware (which ``register_http_context`` installs) runs at INIT, -50: this one
#: runs right inside it, in the request's scope.
_PRIORITY = -49


class RequestHeaders:
    """What ``Cachette.__init__`` reads of a request: ``headers.get("cache-control")``."""

    __slots__ = ("headers",)

    def __init__(self, cache_control: str | None) -> None:
        self.headers: dict[str, str] = (
            {} if cache_control is None else {"cache-control": cache_control}
        )


async def _cachette_for_request(
    request: BlackSheepRequest, handler: Callable[[BlackSheepRequest], Awaitable[Response]]
) -> Response:
    """Puts a ``Cachette`` carrying the request's Cache-Control in the request's DI scope,
    where rodi's scoped provider finds it instead of building a plain one."""
    value = request.get_first_header(b"cache-control")
    if value is not None:
        scope = getattr(request, "_di_scope", None)  # set by di_scope_middleware
        if scope is not None:
            headers = RequestHeaders(value.decode("latin-1"))
            scope.scoped_services[Cachette] = Cachette(headers)  # type: ignore[arg-type]
    return await handler(request)


def setup(app: Application) -> None:
    """Makes the ``Cachette`` that ``add_scoped(Cachette)`` gives a handler honour the
    request's Cache-Control. Call it once, before the application starts, before or after
    ``add_scoped``. Without it, ``add_scoped(Cachette)`` works all the same, ignoring the
    header (as 0.1.x did)."""
    if not isinstance(app.services, Container):
        raise TypeError("cachette.asgi.blacksheep.setup needs BlackSheep's default rodi container")
    if di_scope_middleware not in app.middlewares:
        register_http_context(app)  # one DI scope per request, holding the request
    app.middlewares.append(_cachette_for_request, MiddlewareCategory.INIT, _PRIORITY)
