"""A thin ASGI reverse proxy wrapped in ``HttpCache``: the cache under test in
``make conformance``. The origin is the suite's own server, named by CONFORMANCE_ORIGIN.

Run: CONFORMANCE_ORIGIN=http://127.0.0.1:PORT uvicorn tests.conformance.proxy:app
CONFORMANCE_DEFAULTS=1 wraps the proxy in ``HttpCache`` with default options instead of the
project's settings.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from cachette import Cachette
from cachette.http import HttpCache

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

ORIGIN = os.environ.get("CONFORMANCE_ORIGIN", "http://127.0.0.1:18680")
_HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"transfer-encoding",
    b"upgrade",
    b"host",
}


class ReverseProxy:
    """Forwards every request to ORIGIN as it came and returns the origin's bytes as they are:
    one connection per request, read to its end, so that the suite's deliberately odd
    responses (unusual Transfer-Encoding, stray Content-Length) reach the cache unchanged."""

    def __init__(self, origin: str) -> None:
        parts = urlsplit(origin)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        lines = [scope["method"].encode() + b" " + target + b" HTTP/1.1"]
        lines.append(b"host: " + f"{self.host}:{self.port}".encode())
        lines += [
            k + b": " + v.strip()
            for k, v in scope["headers"]
            if k not in _HOP_BY_HOP and k != b"content-length"
        ]
        lines.append(b"connection: close")
        if body or scope["method"] in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: " + str(len(body)).encode())
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
            await writer.drain()
            try:
                raw = await asyncio.wait_for(reader.read(-1), 20)
            except asyncio.TimeoutError:
                print("proxy: origin timed out on", scope["method"], target, flush=True)
                raise
        finally:
            writer.close()
        if not raw:
            raise ConnectionError("the origin closed the connection without a response")
        head, _, content = raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers = []
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        if any(k == b"transfer-encoding" and v.lower() == b"chunked" for k, v in headers):
            content = _dechunk(content)
        dropped = set(_HOP_BY_HOP)
        for k, v in headers:
            if k == b"connection":
                dropped.update(name.strip().lower() for name in v.split(b","))
        out = [(k, v) for k, v in headers if k not in dropped]
        if scope["method"] == "HEAD" or status in (204, 304):
            content = b""
        else:  # the length of what arrived (uvicorn refuses a body that disagrees)
            out = [(k, v) for k, v in out if k != b"content-length"]
            out.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": content})


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


Cachette.load_config(lambda: [("ttl", 60)])
if os.environ.get("CONFORMANCE_DEFAULTS") == "1":
    # HttpCache as a user gets it without options: what its safe defaults cost
    app = HttpCache(ReverseProxy(ORIGIN), namespace="conformance")
else:
    # the project's settings: RFC 9111's choices where the defaults are stricter
    app = HttpCache(
        ReverseProxy(ORIGIN),
        set_cookie="store",
        credentialed="rfc9111",
        etag=False,
        namespace="conformance",
        surrogate="cachette",
    )
