"""The application every attack scenario targets, served by a real uvicorn (conftest.py).

Small FastAPI routes that do with request input what real applications do: build absolute
links from forwarded headers, greet the user named by a session cookie, honour a method
override, read a GET body, answer odd headers with a 400. They are wrapped in
``cachette.http.HttpCache`` with its default options; two prefixes add the usual deployments
around it:

- ``/appttl/...`` goes to a second ``HttpCache(ttl=60)`` (the app-wide ``ttl`` option);
- ``/noraw/...`` goes through a layer that drops ``raw_path`` from the scope, as ASGI
  servers and adapters without it do.

``/__stats`` answers outside the caches with ``Cachette.stats()``, so a test can count the
entries a scenario left in the in-memory store; ``/__reads/<t>`` with the number of reads
the race routes have begun.

Environment: ``ATTACK_REDIS_URL`` (empty: the in-memory backend), ``ATTACK_BACKEND_TIMEOUT``
(seconds; the backend's operation timeout, for the hung-backend scenario).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import StreamingResponse

from cachette import Cachette
from cachette.http import HttpCache, cache_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _configure() -> None:
    settings: list[tuple[str, Any]] = []
    url = os.environ.get("ATTACK_REDIS_URL", "")
    if url:
        settings += [("backend", "redis"), ("redis_url", url)]
    timeout = os.environ.get("ATTACK_BACKEND_TIMEOUT", "")
    if timeout:
        settings.append(("timeout", float(timeout)))
    Cachette.load_config(lambda: settings)


_configure()

#: Headers that proxies and frameworks use to tell an app where a request "really" went.
ROUTING_HEADERS = (
    "x-forwarded-host",
    "x-forwarded-scheme",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-host",
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
)
HEADER_LIMIT = 8192  # the app's own limit on one header value (a WAF rule, a framework limit)

api = FastAPI()
state: dict[str, str] = {}
calls: Counter[str] = Counter()


class MethodOverride:
    """Honours ``X-HTTP-Method-Override`` (and ``X-HTTP-Method``, ``X-Method-Override``) on
    any request, as several frameworks' method-override middlewares do."""

    NAMES = (b"x-http-method-override", b"x-http-method", b"x-method-override")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for k, v in scope["headers"]:
                if k in self.NAMES:
                    scope = dict(scope)
                    scope["method"] = v.decode("latin-1").strip().upper()
                    break
        await self.app(scope, receive, send)


def _bad_header(headers: list[tuple[bytes, bytes]]) -> bool:
    """An oversized header or a control character in a header value (a WAF rule, a strict
    framework): the app answers such requests with a 400."""
    return any(
        len(v) > HEADER_LIMIT or any((c < 0x20 and c != 0x09) or c == 0x7F for c in v)
        for _, v in headers
    )


# -- pages that reflect what they read ---------------------------------------------------------


@api.get("/reflect/{rest:path}")
async def reflect(request: Request, rest: str) -> Response:
    """A public page that renders everything it read: its host, path and query, the routing
    headers a proxy may set, and a GET body. Explicitly fresh for 60 s, no ``Vary``."""
    body = await request.body()
    seen: dict[str, Any] = {
        "rest": rest,
        "host": request.headers.get("host"),
        "path": request.url.path,
        "raw_path": (request.scope.get("raw_path") or b"").decode("latin-1"),
        "query": request.url.query,
        "params": list(request.query_params.multi_items()),
        "body": body.decode("latin-1"),
        "link": str(request.url_for("reflect", rest=rest)),
    }
    for name in ROUTING_HEADERS:
        seen[name] = request.headers.get(name)
    return JSONResponse(seen, headers={"cache-control": "public, max-age=60"})


@api.post("/reflect/{rest:path}")
async def reflect_post(rest: str) -> Response:
    return PlainTextResponse(f"posted to {rest}")


@api.delete("/reflect/{rest:path}")
async def reflect_delete(rest: str) -> Response:
    return PlainTextResponse(f"deleted {rest}")


@api.get("/noraw/{rest:path}")
async def noraw(request: Request, rest: str) -> Response:
    """Public page under the prefix whose server layer drops ``raw_path``."""
    return JSONResponse(
        {"path": request.url.path, "query": request.url.query},
        headers={"cache-control": "public, max-age=60"},
    )


@api.get("/echo-header/{t}")
async def echo_header(t: str, v: str = "") -> Response:
    """Copies a parameter into a response header (a redirect target, a language tag)."""
    return PlainTextResponse(
        f"echo {t}", headers={"x-echo": v, "cache-control": "public, max-age=60"}
    )


@api.get("/fatget/{t}")
async def fat_get(request: Request, t: str) -> Response:
    """A search page that takes its terms from the body when there is one (a "fat GET")."""
    body = (await request.body()).decode("latin-1")
    terms = body or request.query_params.get("q", "")
    return PlainTextResponse(
        f"results for {terms!r}", headers={"cache-control": "public, max-age=60"}
    )


# -- per-user pages ----------------------------------------------------------------------------


@api.get("/session/{t}")
async def session_page(request: Request, t: str) -> Response:
    """The usual cookie-session page: no Cache-Control, no ETag, no Last-Modified. Fails
    when asked to (``X-Fail``), like a page whose backend call an attacker can break."""
    if request.headers.get("x-fail"):
        raise RuntimeError("the page failed")
    user = request.cookies.get("sid", "anonymous")
    return HTMLResponse(f"<p>signed in as {user}; your api key is key-of-{user}</p>")


@api.get("/account{rest:path}")
async def account(request: Request, rest: str) -> Response:
    """A private account page that ignores whatever follows ``/account`` in the path (the
    precondition of web cache deception). No Cache-Control."""
    user = request.cookies.get("sid")
    if not user:
        return HTMLResponse("<p>please sign in</p>")
    return HTMLResponse(f"<p>account of {user}; card ending 4242-{user}</p>")


@api.get("/profile/{t}")
async def profile(request: Request, t: str) -> Response:
    """A per-user page whose author forgot ``private``: ``max-age=60`` only."""
    user = request.cookies.get("sid") or request.headers.get("authorization") or "anonymous"
    return HTMLResponse(f"<p>profile of {user}</p>", headers={"cache-control": "max-age=60"})


@api.get("/welcome/{t}")
async def welcome(request: Request, t: str) -> Response:
    """A public page that also refreshes the session cookie of whoever asked."""
    sid = request.cookies.get("sid") or f"fresh-{calls['welcome' + t]}"
    calls["welcome" + t] += 1
    return PlainTextResponse(
        f"welcome page {t}",
        headers={"cache-control": "public, max-age=60", "set-cookie": f"sid={sid}; Path=/"},
    )


@api.get("/reval/{t}")
async def revalidated(request: Request, t: str) -> Response:
    """A shared page that must be revalidated on every use (ETag, max-age=0). Its 304
    depends on who asks (``X-Mode``): it refreshes the asker's session cookie ("cookie"),
    or marks the answer ``private`` ("private") or ``no-store`` ("no-store") and names the
    account in ``X-Account``."""
    calls["reval" + t] += 1
    if request.headers.get("if-none-match") == '"v1"':
        sid = request.cookies.get("sid", "anonymous")
        mode = request.headers.get("x-mode", "")
        headers = {"etag": '"v1"', "cache-control": "public, max-age=0"}
        if mode == "cookie":
            headers["set-cookie"] = f"sid={sid}; Path=/"
        elif mode == "private":
            headers["cache-control"] = "private, max-age=60"
            headers["x-account"] = sid
        elif mode == "no-store":
            headers["cache-control"] = "no-store"
            headers["x-account"] = sid
        return Response(status_code=304, headers=headers)
    return PlainTextResponse(
        f"shared page {t}", headers={"etag": '"v1"', "cache-control": "public, max-age=0"}
    )


# -- errors and ttl (issue item 5, CPDoS) ----------------------------------------------------


def _provoked(request: Request, t: str) -> Response:
    """The page, or the error the request provokes: ``X-Status: <code>`` (a status the app
    returns because of a header, e.g. a failed upstream call) or ``X-Status: raise`` (an
    exception, rendered as 500 by the framework)."""
    if _bad_header(list(request.scope["headers"])):
        return PlainTextResponse("400: bad request header", status_code=400)
    status = request.headers.get("x-status")
    if status == "raise":
        raise RuntimeError("provoked failure")
    if status:
        return PlainTextResponse(f"error {status} provoked", status_code=int(status))
    return PlainTextResponse(f"page {t}")


@api.get("/guarded/{t}")
async def guarded_page(request: Request, t: str) -> Response:
    """Default options: the page is explicitly fresh, the errors say nothing."""
    response = _provoked(request, t)
    if response.status_code == 200:
        response.headers["cache-control"] = "public, max-age=60"
    return response


@api.get("/ttl/{t}")
@cache_response(ttl=60)
async def ttl_page(request: Request, t: str) -> Response:
    return _provoked(request, t)


@api.get("/appttl/{t}")
async def app_ttl_page(request: Request, t: str) -> Response:
    return _provoked(request, t)


@api.get("/item/{t}")
async def item(t: str) -> Response:
    return PlainTextResponse(f"item {t}", headers={"cache-control": "public, max-age=60"})


@api.delete("/item/{t}")
async def delete_item(t: str) -> Response:
    return PlainTextResponse(f"item {t} deleted")


@api.get("/appttl-item/{t}")
async def app_ttl_item(t: str) -> Response:
    return PlainTextResponse(f"item {t}")


# -- variants, races, streams, volume ----------------------------------------------------------


@api.get("/lang/{t}")
async def lang(request: Request, t: str, delay: float = 0.0) -> Response:
    """A page in the asker's language, ``Vary: Accept-Language``; ``#n`` counts the app's
    answers for this page."""
    if delay:
        await asyncio.sleep(delay)
    calls["lang" + t] += 1
    language = request.headers.get("accept-language", "none")
    return PlainTextResponse(
        f"{t} in {language} #{calls['lang' + t]}",
        headers={"cache-control": "public, max-age=60", "vary": "accept-language"},
    )


@api.get("/race/{t}")
async def race_get(t: str) -> Response:
    """Reads the value, then takes 0.6 s to render it (a slow query). ``/__reads/<t>``
    counts the reads, so a test knows when one has begun."""
    value = state.get(t, "old")
    calls["read" + t] += 1
    await asyncio.sleep(0.6)
    return PlainTextResponse(value, headers={"cache-control": "public, max-age=60"})


@api.get("/race-swr/{t}")
async def race_swr_get(t: str) -> Response:
    value = state.get(t, "old")
    calls["read" + t] += 1
    await asyncio.sleep(0.6)
    return PlainTextResponse(
        value, headers={"cache-control": "public, max-age=1, stale-while-revalidate=60"}
    )


@api.post("/race/{t}")
@api.post("/race-swr/{t}")
async def race_post(request: Request, t: str) -> Response:
    state[t] = (await request.body()).decode()
    return PlainTextResponse("saved")


@api.get("/events/{t}")
async def events(t: str, cc: str = "") -> Response:
    """Server-sent events: one event at once, the next 1.5 s later."""

    async def stream() -> AsyncIterator[str]:
        yield f"data: first {t}\n\n"
        await asyncio.sleep(1.5)
        yield "data: second\n\n"

    headers = {"cache-control": cc} if cc else {}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@api.get("/plain/{t}/{i}")
async def plain(t: str, i: int) -> Response:
    """A page with nothing that makes it storable."""
    return PlainTextResponse(f"plain {t} {i}")


gz = FastAPI()


@gz.get("/{t}")
async def gz_page(t: str) -> Response:
    """A public page compressed for clients that accept gzip (Starlette's GZipMiddleware,
    which sends ``Vary: Accept-Encoding``)."""
    return PlainTextResponse(
        "compressible " * 100 + t, headers={"cache-control": "public, max-age=60"}
    )


api.mount("/gz", GZipMiddleware(gz, minimum_size=100))


# -- the served application ------------------------------------------------------------------

inner = MethodOverride(api)
default_cache = HttpCache(inner)
app_ttl_cache = HttpCache(inner, ttl=60, namespace="appttl")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        path: str = scope["path"]
        if path == "/__stats":
            body = json.dumps(Cachette.stats()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if path.startswith("/__reads/"):
            count = calls["read" + path.rpartition("/")[2]]
            await PlainTextResponse(str(count))(scope, receive, send)
            return
        if path.startswith("/appttl"):
            await app_ttl_cache(scope, receive, send)
            return
        if path.startswith("/noraw/"):
            scope = dict(scope)
            scope.pop("raw_path", None)
    await default_cache(scope, receive, send)
