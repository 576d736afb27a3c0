"""Harness of the attack suite (its fixtures are in conftest.py): real uvicorn servers on
127.0.0.1 running attack_app.py (``HttpCache`` with its default options) with both of
uvicorn's HTTP/1.1 parsers (httptools, its default, and h11) and both kinds of backend (the
in-memory store and Redis), plus raw-socket requests for the attacks an HTTP client would
normalise away (two Host lines, oversized or odd headers, GET bodies, odd request targets).

Ports: ``CACHETTE_PORT_BASE`` (as scripts/with-services.sh uses it, default 17300) + 11..16,
a range the test servers leave free. Redis comes from ``CACHETTE_TEST_REDIS_URL``: run the
suite with ``make http-attacks``.

Every scenario is an attacker's request, then a victim's; each test fails when the victim
receives anything meant for the attacker (a marker the app reflects from the attacker's
input, the attacker's cookie, an error the attacker provoked) or another user's data.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

HERE = pathlib.Path(__file__).resolve().parent
PORT_BASE = int(os.environ.get("CACHETTE_PORT_BASE", "17300"))
PORTS = {
    ("httptools", "memory"): PORT_BASE + 11,
    ("h11", "memory"): PORT_BASE + 12,
    ("httptools", "redis"): PORT_BASE + 13,
    ("h11", "redis"): PORT_BASE + 14,
}
HUNG_APP_PORT = PORT_BASE + 15  # a server whose Redis (below) the hung-backend test stops
HUNG_REDIS_PORT = PORT_BASE + 16

#: Parametrisations: not every scenario needs the four servers.
ALL = list(PORTS)
PARSERS = [("httptools", "memory"), ("h11", "memory")]  # parser-level attacks
CROSS = [("httptools", "memory"), ("h11", "redis")]  # both parsers and both backends


def combo_id(combo: tuple[str, str]) -> str:
    return f"{combo[0]}-{combo[1]}"


def redis_url() -> str:
    url = os.environ.get("CACHETTE_TEST_REDIS_URL")
    if not url:
        pytest.fail("CACHETTE_TEST_REDIS_URL is not set: run the suite with `make http-attacks`")
    return url


# -- raw HTTP/1.1 over a socket ----------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    raw: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("latin-1")

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def parse_response(data: bytes) -> RawResponse:
    """The first response in ``data`` (status 0 when the server sent nothing usable)."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return RawResponse(0, raw=data)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    response = RawResponse(status, headers, b"", data)
    if (response.header("transfer-encoding") or "").lower() == "chunked":
        response.body = _dechunk(rest)
    elif response.header("content-length") is not None:
        response.body = rest[: int(response.header("content-length") or 0)]
    else:
        response.body = rest
    return response


def build_request(
    method: str,
    target: str | bytes,
    headers: list[tuple[str | bytes, str | bytes]],
    body: bytes = b"",
) -> bytes:
    """A request written byte for byte as given (no Host is added: list it yourself)."""

    def b(x: str | bytes) -> bytes:
        return x if isinstance(x, bytes) else x.encode("latin-1")

    lines = [b(method) + b" " + b(target) + b" HTTP/1.1"]
    lines += [b(k) + b": " + b(v) for k, v in headers]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# -- the servers -------------------------------------------------------------------------------


class Server:
    """One uvicorn process serving attack_app.py."""

    def __init__(self, parser: str, backend: str, port: int, env: dict[str, str], log: Any):
        self.parser = parser
        self.backend = backend
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.base_url = f"http://{self.host}"
        self.log_path = pathlib.Path(log.name)
        self.ready = False
        self.client: httpx.Client | None = None
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "attack_app:app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--http",
                parser,
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> Server:
        if self.ready:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"uvicorn ({self.parser}) exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base_url + "/__stats", timeout=1.0).status_code == 200:
                    self.ready = True
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"uvicorn ({self.parser}) did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # requests

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A GET on a connection of its own (the attacker's request may have made the
        server close its connection); ``cookies`` are sent on this request only (the client
        keeps no cookie jar between requests: each one is a different user)."""
        sent = {"connection": "close", **(headers or {})}
        if cookies:
            sent["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        client = self._client()
        client.cookies.clear()
        try:
            return client.get(path, headers=sent, params=params)
        finally:
            client.cookies.clear()

    def _client(self) -> httpx.Client:
        if self.client is None:
            self.client = httpx.Client(base_url=self.base_url, timeout=15.0, trust_env=False)
        return self.client

    def raw(self, request: bytes, timeout: float = 10.0) -> RawResponse:
        """Sends ``request`` as it is and reads until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except ConnectionResetError:
                pass
        return parse_response(b"".join(chunks))

    def raw_get(
        self,
        target: str | bytes,
        headers: list[tuple[str | bytes, str | bytes]] | None = None,
        body: bytes = b"",
        host: str | bytes | None = None,
    ) -> RawResponse:
        """A GET with one Host line (this server's, unless ``host`` is given) first."""
        lines: list[tuple[str | bytes, str | bytes]] = [("Host", host or self.host)]
        lines += headers or []
        return self.raw(build_request("GET", target, lines, body))

    def stored(self, token: str) -> int:
        """Entries the backend holds: for Redis, the keys that contain ``token`` (stampede
        locks aside); for the in-memory store, every entry of this server (compare before and
        after)."""
        if self.backend == "redis":  # lock keys come and go with each request: not counted
            keys = redis_scan(redis_url(), f"*{token}*")
            return sum(1 for k in keys if b"cachette-lock" not in k)
        return int(self.get("/__stats").json()["entries"])


class Servers:
    """Starts the four servers together the first time one is asked for."""

    def __init__(self, logs: pathlib.Path) -> None:
        self.logs = logs
        self.running: dict[tuple[str, str], Server] = {}

    def start_all(self) -> None:
        url = os.environ.get("CACHETTE_TEST_REDIS_URL", "")
        for (parser, backend), port in PORTS.items():
            if (parser, backend) in self.running or (backend == "redis" and not url):
                continue
            self.running[(parser, backend)] = start_server(
                parser, port, self.logs, redis=url if backend == "redis" else ""
            )

    def get(self, parser: str, backend: str) -> Server:
        if backend == "redis":
            redis_url()
        self.start_all()
        return self.running[(parser, backend)].wait_ready()

    def stop_all(self) -> None:
        for server in self.running.values():
            server.stop()


def start_server(
    parser: str, port: int, logs: pathlib.Path, redis: str = "", timeout: str = ""
) -> Server:
    env = dict(os.environ)
    env["ATTACK_REDIS_URL"] = redis
    env["ATTACK_BACKEND_TIMEOUT"] = timeout
    env["PYTHONUNBUFFERED"] = "1"
    backend = "redis" if redis else "memory"
    log = open(logs / f"uvicorn-{parser}-{backend}-{port}.log", "w")
    return Server(parser, backend, port, env, log)


# -- what the victim received ------------------------------------------------------------------


def exposed(response: httpx.Response | RawResponse) -> str:
    """Everything a client reads from a response: status, every header, the body."""
    if isinstance(response, RawResponse):
        return response.raw.decode("latin-1")
    lines = [str(response.status_code)]
    lines += [f"{k}: {v}" for k, v in response.headers.multi_items()]
    lines.append(response.content.decode("latin-1"))
    return "\n".join(lines)


def assert_not_leaked(response: httpx.Response | RawResponse, *markers: str) -> None:
    seen = exposed(response)
    for marker in markers:
        assert marker not in seen, f"the victim received {marker!r}:\n{seen[:2000]}"


# -- Redis, spoken directly (keys are counted, nothing else) ---------------------------------


def _redis_call(sock: socket.socket, reader: Any, *args: str) -> Any:
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    sock.sendall(payload.encode())
    return _redis_read(reader)


def _redis_read(reader: Any) -> Any:
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b":"):
        return int(rest) if kind == b":" else rest
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2]
    if kind == b"*":
        return [_redis_read(reader) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected reply {line!r}")


def redis_scan(url: str, pattern: str) -> list[bytes]:
    parts = urlsplit(url)
    db = (parts.path or "/0").strip("/") or "0"
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 5) as s:
        reader = s.makefile("rb")
        if db != "0":
            _redis_call(s, reader, "SELECT", db)
        keys: list[bytes] = []
        cursor = "0"
        while True:
            reply = _redis_call(s, reader, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            cursor_b, batch = reply
            keys += batch
            cursor = cursor_b.decode()
            if cursor == "0":
                return keys
