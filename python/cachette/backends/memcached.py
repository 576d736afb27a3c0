"""The memcached backend: one or more servers, keys spread by consistent hashing.

``memcached_host`` takes a comma-separated list of servers, each one of

- ``host`` or ``host:port`` (port 11211 when omitted; IPv6 addresses in brackets),
- ``unix:/path/to/socket``,
- ``memcached://[user:password@]host[:port]`` (credentials for a server started with ``-Y``),
- ``memcacheds://[user:password@]host[:port]`` (the same over TLS).

Validation happens at ``load_config``; messages name ``memcached_host`` and never repeat the
credentials.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cachette.backends.base import Backend, NetworkBackend, check_tls_files

if TYPE_CHECKING:
    from cachette.config import CachetteConfig

DEFAULT_PORT = 11211
_KEY = '"memcached_host"'


@dataclass(frozen=True)
class ServerSpec:
    """One server of ``memcached_host``. The password never appears in its repr."""

    host: str = ""
    port: int = DEFAULT_PORT
    unix_path: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    tls: bool = False

    @property
    def name(self) -> str:
        """How the server is named in messages and on the hash ring (no credentials)."""
        if self.unix_path:
            return f"unix:{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _bad(index: int, count: int, problem: str) -> ValueError:
    where = f"server {index + 1} of {_KEY}" if count > 1 else f"The {_KEY} value"
    return ValueError(f"{where} {problem}")


def _port(text: str, index: int, count: int) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _bad(index, count, "has a port that is not a number between 1 and 65535.")
    return int(text)


def _host(text: str, index: int, count: int) -> str:
    if not text or any(c.isspace() or c in "/?#@" for c in text):
        raise _bad(index, count, "needs a host name or address, as host or host:port.")
    return text


def _split_host_port(text: str, index: int, count: int) -> tuple[str, int]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _bad(index, count, "has an IPv6 address without its closing bracket.")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(index, count, "must be host or host:port.")
        port = _port(rest[1:], index, count) if rest else DEFAULT_PORT
        return _host(host, index, count), port
    host, colon, port_text = text.rpartition(":")
    if not colon:
        return _host(text, index, count), DEFAULT_PORT
    if ":" in host:
        raise _bad(index, count, "has an IPv6 address; write it in brackets, as [::1]:11211.")
    return _host(host, index, count), _port(port_text, index, count)


def _parse_url(text: str, index: int, count: int) -> ServerSpec:
    scheme, _, rest = text.partition("://")
    tls = scheme.lower() == "memcacheds"
    netloc, _, tail = rest.partition("/")
    if tail or "?" in netloc or "#" in netloc:
        raise _bad(index, count, "must be memcached://[user:password@]host[:port] (no path).")
    userinfo, at, hostport = netloc.rpartition("@")
    username = password = ""
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = urllib.parse.unquote(user_text)
        password = urllib.parse.unquote(password_text)
        if not colon or not username or not password:
            raise _bad(index, count, "has credentials that are not user:password.")
        if any(c.isspace() for c in username + password):
            raise _bad(
                index, count, "has credentials with white space, which memcached cannot take."
            )
    host, port = _split_host_port(hostport, index, count)
    return ServerSpec(host=host, port=port, username=username, password=password, tls=tls)


def parse_servers(value: str) -> list[ServerSpec]:
    """Parses ``memcached_host``; raises ValueError naming the key."""
    parts = [part.strip() for part in value.split(",")]
    count = len(parts)
    servers: list[ServerSpec] = []
    for index, part in enumerate(parts):
        if not part:
            raise _bad(index, count, "is empty; list servers separated by commas.")
        scheme, sep, _ = part.partition("://")
        if sep:
            if scheme.lower() not in ("memcached", "memcacheds"):
                raise _bad(index, count, "must use the memcached:// or memcacheds:// scheme.")
            servers.append(_parse_url(part, index, count))
        elif part.lower().startswith("unix:"):
            path = part[5:]
            if not path.startswith("/"):
                raise _bad(index, count, "must name an absolute socket path, as unix:/path.")
            servers.append(ServerSpec(unix_path=path))
        else:
            host, port = _split_host_port(part, index, count)
            servers.append(ServerSpec(host=host, port=port))
    names = [server.name for server in servers]
    if len(set(names)) != len(names):
        raise ValueError(f"The {_KEY} value lists the same server twice.")
    return servers


def check(config: CachetteConfig) -> None:
    if config.memcached_host is not None:
        parse_servers(config.memcached_host)
    check_tls_files(config)


def create(config: CachetteConfig) -> Backend:
    assert config.memcached_host is not None
    return MemcachedBackend(config, parse_servers(config.memcached_host))


class MemcachedBackend(NetworkBackend):
    """Namespace clears and flushes run a key dump on every server first, inside the engine
    (docs/memcached-namespaces.md)."""

    def __init__(self, config: CachetteConfig, servers: list[ServerSpec]) -> None:
        from cachette._core import memcached_client

        super().__init__(
            memcached_client(
                [(s.host, s.port, s.unix_path, s.username, s.password, s.tls) for s in servers],
                timeout=config.timeout,
                connect_timeout=config.connect_timeout,
                pool_size=config.pool_size,
                tls_ca_file=config.tls_ca_file or "",
                tls_cert_file=config.tls_cert_file or "",
                tls_key_file=config.tls_key_file or "",
            )
        )
        self.servers = servers

    def __repr__(self) -> str:
        return f"<MemcachedBackend {', '.join(s.name for s in self.servers)}>"
