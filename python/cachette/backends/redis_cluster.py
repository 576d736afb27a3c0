"""Redis Cluster, Valkey cluster and Sentinel behind ``redis_url`` / ``valkey_url``.

The engine's cluster client (``cachette._core.cluster_client``) routes each key to its slot's
primary, follows MOVED/ASK, and runs whole operations on every primary; with a Sentinel URL it
follows the service's primary across failovers. This module only decides which client a URL
gets (see :func:`choose`) and adapts the cluster client to the Backend interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachette._core import DEFAULT_CONNECT_TIMEOUT, DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT
from cachette.backends.base import NetworkBackend
from cachette.backends.redis_url import RedisAddress

if TYPE_CHECKING:
    from cachette._core import NetworkClient

__all__ = ["ClusterBackend", "connect_cluster", "needs_cluster_client", "probe"]


def connect_cluster(
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
    """An engine cluster client for ``address``; it starts reading the slot map at once."""
    from cachette._core import cluster_client

    return cluster_client(
        kind=kind,
        seeds=list(address.nodes),
        sentinel_service=address.sentinel_service,
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
        read_from_replicas=address.read_from_replicas,
    )


def needs_cluster_client(address: RedisAddress) -> bool:
    """Whether the URL alone asks for the cluster client (several nodes, Sentinel, replicas)."""
    return bool(address.seeds or address.sentinel_service or address.read_from_replicas)


def probe(client: NetworkClient, wait: float) -> bool | None:
    """True when the server behind a one-host URL is a cluster node, False when it is a
    standalone server, None when it could not be asked within ``wait`` seconds.

    Refused credentials count as standalone: every operation will fail with the same
    CachetteAuthError on either client until the configuration is fixed."""
    from cachette.exceptions import CachetteAuthError, CachetteError

    try:
        layout = client.probe(wait)
    except CachetteAuthError:
        return False
    except CachetteError:
        return None
    if layout is None:
        return None
    return not layout["standalone"]


class ClusterBackend(NetworkBackend):
    """A cluster (or Sentinel-managed server) through the engine's cluster client; every
    operation, whole ones included, is the engine's (include/cachette/redis/cluster.hpp)."""

    def __init__(self, client: NetworkClient, address: RedisAddress) -> None:
        super().__init__(client)
        self.address = address

    def __repr__(self) -> str:
        return f"<ClusterBackend {self.address.describe()}>"

    def layout(self) -> dict[str, object]:
        """What discovery found: shards, covered slots, standalone, primary, refreshes."""
        return self._client.layout()
