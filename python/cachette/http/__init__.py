"""An RFC 9111 shared HTTP cache for ASGI apps, with RFC 5861's stale-while-revalidate and
stale-if-error. ``HttpCache`` wraps an app or endpoint; ``cache_response`` sets one
endpoint's defaults. Responses live in the backend configured with ``Cachette.load_config``.
"""

from cachette.http.invalidate import invalidate_namespace, invalidate_path, invalidate_url
from cachette.http.middleware import HttpCache, body_etag
from cachette.http.route import RouteOptions, cache_response

__all__ = [
    "HttpCache",
    "RouteOptions",
    "body_etag",
    "cache_response",
    "invalidate_namespace",
    "invalidate_path",
    "invalidate_url",
]
