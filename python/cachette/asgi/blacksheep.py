"""BlackSheep: lets rodi build ``Cachette`` with ``app.services.add_scoped(Cachette)``.

``Cachette.__init__`` takes ``request: starlette.requests.Request = None`` so that FastAPI
injects the request; rodi, BlackSheep's container, tries to resolve that annotation and fails
because no such service exists. ``setup(app)`` registers one: a scoped service that carries
the current BlackSheep request's ``Cache-Control`` header, so the header is honoured as it is
under FastAPI::

    from blacksheep import Application
    from cachette import Cachette
    from cachette.asgi.blacksheep import setup

    app = Application()
    setup(app)
    app.services.add_scoped(Cachette)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, get_type_hints

from blacksheep.messages import Request as BlackSheepRequest
from blacksheep.server.di import register_http_context
from rodi import ActivationScope, Container

from cachette.core import Cachette

if TYPE_CHECKING:
    from blacksheep import Application

__all__ = ["RequestHeaders", "setup"]


class RequestHeaders:
    """What ``Cachette.__init__`` reads of a request: ``headers.get("cache-control")``."""

    __slots__ = ("headers",)

    def __init__(self, cache_control: str | None) -> None:
        self.headers: dict[str, str] = (
            {} if cache_control is None else {"cache-control": cache_control}
        )


def _request_headers(context: ActivationScope) -> RequestHeaders:
    scoped = context.scoped_services or {}
    request = scoped.get("__request__")  # set by BlackSheep's di_scope_middleware
    if not isinstance(
        request, BlackSheepRequest
    ):  # resolved outside a request (e.g. at startup): no directives
        return RequestHeaders(None)
    value = request.get_first_header(b"cache-control")
    return RequestHeaders(None if value is None else value.decode("latin-1"))


def setup(app: Application) -> None:
    """Makes ``app.services.add_scoped(Cachette)`` resolvable, with Cache-Control honoured.
    Call it once, before the application starts."""
    services = app.services
    if not isinstance(services, Container):
        raise TypeError("cachette.asgi.blacksheep.setup needs BlackSheep's default rodi container")
    register_http_context(app)  # puts the current request in the DI scope
    # the type rodi reads on Cachette.__init__ (starlette's Request; NoneType without starlette)
    request_type = get_type_hints(Cachette.__init__)["request"]
    services.add_scoped_by_factory(_request_headers, request_type)
