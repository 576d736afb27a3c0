"""Redis and Valkey backends on the C++ network engine (one module serves both).

This module only turns the URL and options into an engine client; every operation runs in the
engine (cachette.backends.base.NetworkBackend).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachette._core import DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT
from cachette.backends.base import Backend, NetworkBackend, check_tls_files
from cachette.backends.redis_url import RedisAddress, parse_redis_url

if TYPE_CHECKING:
    from cachette._core import NetworkClient
    from cachette.config import CachetteConfig

__all__ = ["RedisBackend", "check", "create"]


def _url_key(config: CachetteConfig) -> tuple[str, str]:
    if config.backend == "valkey":
        return "valkey_url", config.valkey_url or ""
    return "redis_url", config.redis_url or ""


def check(config: CachetteConfig) -> None:
    """Validates the URL and TLS files at ``load_config`` time."""
    key, url = _url_key(config)
    parse_redis_url(url, key)
    check_tls_files(config)


def connect(
    address: RedisAddress,
    *,
    kind: str = "redis",
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    pool_size: int = DEFAULT_POOL_SIZE,
    tls_ca_file: str | None = None,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
) -> NetworkClient:
    """An engine client for ``address`` (connections open in the background at once)."""
    from cachette._core import redis_client

    return redis_client(
        kind=kind,
        host=address.host,
        port=address.port,
        unix_path=address.unix_path,
        db=address.db,
        username=address.username,
        password=address.password,
        tls=address.tls,
        tls_ca_file=tls_ca_file or "",
        tls_cert_file=tls_cert_file or "",
        tls_key_file=tls_key_file or "",
        timeout=timeout,
        connect_timeout=connect_timeout,
        pool_size=pool_size,
    )


class RedisBackend(NetworkBackend):
    """Keys are str (UTF-8 on the wire), values bytes."""

    def __init__(self, client: NetworkClient, address: RedisAddress) -> None:
        super().__init__(client)
        self.address = address

    def __repr__(self) -> str:
        return f"<RedisBackend {self.address.describe()}>"


def create(config: CachetteConfig) -> Backend:
    key, url = _url_key(config)
    address = parse_redis_url(url, key)
    kind = config.backend if config.backend == "valkey" else "redis"
    if not address.unix_path:
        # Several nodes, Sentinel, or one host that turns out to be a cluster node: the
        # cluster client. Unreachable at start: the cluster client too, which also serves a
        # standalone server once it answers (docs/redis.md).
        from cachette.backends import redis_cluster

        cluster = redis_cluster.connect_cluster(
            address,
            kind=kind,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            pool_size=config.pool_size,
            tls_ca_file=config.tls_ca_file,
            tls_cert_file=config.tls_cert_file,
            tls_key_file=config.tls_key_file,
        )
        if redis_cluster.needs_cluster_client(address):
            return redis_cluster.ClusterBackend(cluster, address)
        if redis_cluster.probe(cluster, config.connect_timeout) is not False:
            return redis_cluster.ClusterBackend(cluster, address)
        cluster.close()
    client = connect(
        address,
        kind=kind,
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        pool_size=config.pool_size,
        tls_ca_file=config.tls_ca_file,
        tls_cert_file=config.tls_cert_file,
        tls_key_file=config.tls_key_file,
    )
    return RedisBackend(client, address)
