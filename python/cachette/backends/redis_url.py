"""Parsing of ``redis_url`` / ``valkey_url`` values.

Accepted forms::

    redis://[[username]:password@]host[:port][/db]     rediss://...  (TLS)
    valkey://...                                        valkeys://... (TLS)
    unix://[[username]:password@]/path/to/socket[?db=N]

Errors are ValueErrors whose message names the configuration key and the problem, never the
URL itself: it may hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379
_TCP_SCHEMES = {"redis": False, "rediss": True, "valkey": False, "valkeys": True}
_MAX_DB = 2**31 - 1


@dataclass(frozen=True)
class RedisAddress:
    """Where and how to connect. ``password`` is kept out of the repr."""

    host: str = ""
    port: int = DEFAULT_PORT
    unix_path: str = ""
    tls: bool = False
    db: int = 0
    username: str = ""
    password: str = field(default="", repr=False)

    def describe(self) -> str:
        """The address without credentials, for messages."""
        if self.unix_path:
            return f"unix:{self.unix_path} db {self.db}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


def _db_number(key: str, text: str) -> int:
    if not text.isdigit() or int(text) > _MAX_DB:
        raise ValueError(
            f'The "{key}" value has an invalid database number: use a non-negative integer '
            "such as /0."
        )
    return int(text)


def parse_redis_url(url: str, key: str = "redis_url") -> RedisAddress:
    """Parses ``url`` (the value of configuration key ``key``)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            f'The "{key}" value must be a non-empty URL such as redis://localhost:6379.'
        )
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise ValueError(f'The "{key}" value is not a valid URL.') from None
    scheme = parts.scheme.lower()
    if scheme not in _TCP_SCHEMES and scheme != "unix":
        raise ValueError(
            f'The "{key}" value must start with redis://, rediss://, valkey://, valkeys:// or '
            "unix://."
        )
    if parts.fragment:
        raise ValueError(f'The "{key}" value must not contain a fragment (#...).')

    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if username and not password:
        raise ValueError(f'The "{key}" value names a user without a password.')

    db = 0
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise ValueError(
            f'The "{key}" value has unsupported query parameters: {", ".join(unknown)}.'
        )
    if "db" in query:
        db = _db_number(key, query["db"][-1])

    if scheme == "unix":
        if not parts.path or parts.path == "/":
            raise ValueError(
                f'The "{key}" value needs a socket path, as in unix:///run/redis.sock.'
            )
        return RedisAddress(unix_path=parts.path, db=db, username=username, password=password)

    host = parts.hostname or ""
    if not host:
        raise ValueError(f'The "{key}" value needs a host, as in redis://localhost:6379.')
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f'The "{key}" value has an invalid port: use 1 to 65535.') from None
    if port is None:
        port = DEFAULT_PORT
    if not 1 <= port <= 65535:
        raise ValueError(f'The "{key}" value has an invalid port: use 1 to 65535.')
    path = parts.path.strip("/")
    if path:
        if "db" in query:
            raise ValueError(f'The "{key}" value gives the database twice (path and ?db=).')
        db = _db_number(key, path)
    return RedisAddress(
        host=host,
        port=port,
        tls=_TCP_SCHEMES[scheme],
        db=db,
        username=username,
        password=password,
    )
