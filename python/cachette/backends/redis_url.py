"""Parsing of ``redis_url`` / ``valkey_url`` values.

Accepted forms::

    redis://[[username]:password@]host[:port][/db]     rediss://...  (TLS)
    valkey://...                                        valkeys://... (TLS)
    unix://[[username]:password@]/path/to/socket[?db=N]
    redis://host:port,host:port,...                     several seed nodes of one cluster
    redis+sentinel://[[username]:password@]host:port,host:port/service[/db]
                                                        Sentinel (also rediss+, valkey+, valkeys+)

One host may be a standalone server or any node of a cluster: the backend finds out when it
starts (docs/redis.md). ``?read_from_replicas=yes`` sends reads of a cluster to replicas.
The credentials are those of the data nodes; sentinels are asked without them.

Errors are ValueErrors whose message names the configuration key and the problem, never the
URL itself: it may hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379
_TCP_SCHEMES = {"redis": False, "rediss": True, "valkey": False, "valkeys": True}
_SENTINEL_SUFFIX = "+sentinel"
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
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
    #: Every node named in the URL, (host, port), when it names more than one or a Sentinel.
    seeds: tuple[tuple[str, int], ...] = ()
    #: Sentinel: the service (primary) name to follow; empty otherwise.
    sentinel_service: str = ""
    read_from_replicas: bool = False

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """The seed nodes (or sentinels): ``seeds``, or the one host."""
        return self.seeds or ((self.host, self.port),)

    def describe(self) -> str:
        """The address without credentials, for messages."""
        if self.unix_path:
            return f"unix:{self.unix_path} db {self.db}"
        scheme = "rediss" if self.tls else "redis"
        hosts = ",".join(f"{h}:{p}" for h, p in self.nodes)
        if self.sentinel_service:
            return f"{scheme}+sentinel://{hosts}/{self.sentinel_service}/{self.db}"
        return f"{scheme}://{hosts}/{self.db}"


def _db_number(key: str, text: str) -> int:
    if not text.isdigit() or int(text) > _MAX_DB:
        raise ValueError(
            f'The "{key}" value has an invalid database number: use a non-negative integer '
            "such as /0."
        )
    return int(text)


def _split_hosts(key: str, hosts: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f'The "{key}" value has an empty host in its list of nodes.')
        try:
            parts = urlsplit("//" + item)
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            raise ValueError(f'The "{key}" value has an invalid port: use 1 to 65535.') from None
        if not host:
            raise ValueError(f'The "{key}" value needs a host, as in redis://localhost:6379.')
        if port is None:
            port = DEFAULT_PORT
        if not 1 <= port <= 65535:
            raise ValueError(f'The "{key}" value has an invalid port: use 1 to 65535.')
        out.append((host, port))
    return out


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
    sentinel = scheme.endswith(_SENTINEL_SUFFIX)
    base_scheme = scheme[: -len(_SENTINEL_SUFFIX)] if sentinel else scheme
    if base_scheme not in _TCP_SCHEMES and scheme != "unix":
        raise ValueError(
            f'The "{key}" value must start with redis://, rediss://, valkey://, valkeys://, '
            "unix:// or one of them with +sentinel (redis+sentinel://)."
        )
    if parts.fragment:
        raise ValueError(f'The "{key}" value must not contain a fragment (#...).')

    # The user information is read by hand: urlsplit cannot parse a list of hosts.
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user_text, colon, password_text = userinfo.partition(":")
    username = unquote(user_text)
    password = unquote(password_text) if colon else ""
    if username and not password:
        raise ValueError(f'The "{key}" value names a user without a password.')

    db = 0
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"db", "read_from_replicas"})
    if unknown:
        raise ValueError(
            f'The "{key}" value has unsupported query parameters: {", ".join(unknown)}.'
        )
    if "db" in query:
        db = _db_number(key, query["db"][-1])
    replicas = False
    if "read_from_replicas" in query:
        flag = query["read_from_replicas"][-1].lower()
        if flag not in _BOOLEANS:
            raise ValueError(f'The "{key}" value has an invalid read_from_replicas: use yes or no.')
        replicas = _BOOLEANS[flag]

    if scheme == "unix":
        if not parts.path or parts.path == "/":
            raise ValueError(
                f'The "{key}" value needs a socket path, as in unix:///run/redis.sock.'
            )
        return RedisAddress(unix_path=parts.path, db=db, username=username, password=password)

    if not hosts:
        raise ValueError(f'The "{key}" value needs a host, as in redis://localhost:6379.')
    nodes = _split_hosts(key, hosts)
    path = parts.path.strip("/")
    service = ""
    if sentinel:
        service, _, db_text = path.partition("/")
        if not service:
            raise ValueError(
                f'The "{key}" value needs the Sentinel service name, as in '
                "redis+sentinel://host:26379/mymaster."
            )
        path = db_text
    if path:
        if "db" in query:
            raise ValueError(f'The "{key}" value gives the database twice (path and ?db=).')
        db = _db_number(key, path)
    if len(nodes) > 1 and not sentinel and db != 0:
        raise ValueError(
            f'The "{key}" value lists several cluster nodes; a cluster only has database 0.'
        )
    host, port = nodes[0]
    return RedisAddress(
        host=host,
        port=port,
        tls=_TCP_SCHEMES[base_scheme],
        db=db,
        username=username,
        password=password,
        seeds=tuple(nodes) if len(nodes) > 1 or sentinel else (),
        sentinel_service=service,
        read_from_replicas=replicas,
    )
