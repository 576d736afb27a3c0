"""Per-endpoint defaults: ``@cache_response(...)`` on a handler behind ``HttpCache``.

The middleware opens a per-request slot (a context variable) before calling the app; the
decorated handler fills it when it runs, and the middleware reads it when the response
starts. Defaults apply only to what the handler's response leaves unsaid: a response that
carries its own freshness information keeps it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachette.exceptions import CachetteValueError

__all__ = ["RouteOptions", "cache_response", "current_route_slot"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class RouteOptions:
    """``ttl``: seconds of freshness the cache gives responses without explicit freshness
    (never sent to clients). ``cache_control``: a Cache-Control value added to responses that
    have none (sent to clients and caches downstream). ``stale_while_revalidate`` and
    ``stale_if_error``: RFC 5861 windows, in seconds, for responses that do not set them."""

    ttl: float | None = None
    cache_control: str | None = None
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttl", "stale_while_revalidate", "stale_if_error"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
            ):
                raise CachetteValueError(f"{name} must be a number of seconds >= 0, not {value!r}")
        if self.cache_control is not None and (
            not isinstance(self.cache_control, str) or "\n" in self.cache_control
        ):
            raise CachetteValueError("cache_control must be a Cache-Control header value")


class _Slot:
    __slots__ = ("options",)

    def __init__(self) -> None:
        self.options: RouteOptions | None = None


_slot: contextvars.ContextVar[_Slot | None] = contextvars.ContextVar(
    "cachette_http_route", default=None
)


def current_route_slot() -> contextvars.ContextVar[_Slot | None]:
    return _slot


def new_slot() -> _Slot:
    return _Slot()


def cache_response(
    ttl: float | None = None,
    *,
    cache_control: str | None = None,
    stale_while_revalidate: float | None = None,
    stale_if_error: float | None = None,
) -> Callable[[F], F]:
    """Sets the HTTP cache's defaults for one endpoint (FastAPI, Starlette, Litestar or
    BlackSheep handler, sync or async). Needs ``HttpCache`` around the app."""
    options = RouteOptions(ttl, cache_control, stale_while_revalidate, stale_if_error)

    def decorate(handler: F) -> F:
        if inspect.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                slot = _slot.get()
                if slot is not None:
                    slot.options = options
                return await handler(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            slot = _slot.get()
            if slot is not None:
                slot.options = options
            return handler(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
