"""The MongoDB backend on the engine's libmongoc client.

``mongodb_url`` is a ``mongodb://`` or ``mongodb+srv://`` URL as MongoDB documents it
(credentials, several hosts and URL options included); ``database_name`` and ``table_name``
name the database and the collection (defaults ``cachette-db`` and ``cachette``, as in 0.1.x).
Everything is checked at ``load_config``; messages name the key and never repeat the URL,
which may hold a password. The data model is described in docs/mongodb.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachette._core import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DATABASE_NAME,
    DEFAULT_POOL_SIZE,
    DEFAULT_TABLE_NAME,
    DEFAULT_TIMEOUT,
)
from cachette.backends.base import Backend, NetworkBackend, check_tls_files

if TYPE_CHECKING:
    from cachette._core import NetworkClient
    from cachette.config import CachetteConfig

__all__ = ["MongoBackend", "check", "check_collection_name", "check_database_name", "create"]

_SCHEMES = ("mongodb://", "mongodb+srv://")
# Characters MongoDB refuses in a database name on some platform (the union, so that a
# configuration valid here is valid on every server).
_DATABASE_FORBIDDEN = set('/\\. "$*<>:|?\0')
_MAX_DATABASE_BYTES = 63
_MAX_NAMESPACE_BYTES = 255


def check_url(url: str) -> None:
    """Raises ValueError naming ``mongodb_url`` (without its text) when the URL is unusable."""
    if not url.startswith(_SCHEMES):
        raise ValueError('The "mongodb_url" value must start with mongodb:// or mongodb+srv://.')
    from cachette import _core

    problem = _core.mongo_check_url(url)
    if problem:
        raise ValueError(f'The "mongodb_url" value is not a valid MongoDB URL: {problem}')


def check_database_name(name: str) -> None:
    bad = sorted(c for c in set(name) & _DATABASE_FORBIDDEN)
    if bad:
        shown = " ".join("NUL" if c == "\0" else ("space" if c == " " else c) for c in bad)
        raise ValueError(
            f'The "database_name" value cannot hold these characters, which MongoDB refuses '
            f"in database names: {shown}"
        )
    if len(name.encode()) > _MAX_DATABASE_BYTES:
        raise ValueError(
            f'The "database_name" value is longer than MongoDB\'s limit of '
            f"{_MAX_DATABASE_BYTES} bytes."
        )


def check_collection_name(name: str, database: str) -> None:
    if "$" in name or "\0" in name:
        raise ValueError('The "table_name" value cannot hold "$" or NUL, which MongoDB refuses.')
    if name.startswith("system."):
        raise ValueError(
            'The "table_name" value cannot start with "system." (reserved by MongoDB).'
        )
    if name.startswith("."):
        raise ValueError('The "table_name" value cannot start with ".".')
    if len(f"{database}.{name}".encode()) > _MAX_NAMESPACE_BYTES:
        raise ValueError(
            f'The "table_name" value makes "database_name.table_name" longer than MongoDB\'s '
            f"limit of {_MAX_NAMESPACE_BYTES} bytes."
        )


def check(config: CachetteConfig) -> None:
    """Validates the URL, the names and the TLS files at ``load_config`` time."""
    if config.mongodb_url is not None:
        check_url(config.mongodb_url)
    check_database_name(config.database_name)
    check_collection_name(config.table_name, config.database_name)
    check_tls_files(config)


def connect(
    url: str,
    database: str = DEFAULT_DATABASE_NAME,
    collection: str = DEFAULT_TABLE_NAME,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    pool_size: int = DEFAULT_POOL_SIZE,
    tls_ca_file: str | None = None,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
) -> NetworkClient:
    """An engine client (its connections open on the first operation)."""
    from cachette._core import mongo_client

    return mongo_client(
        url,
        database,
        collection,
        tls_ca_file=tls_ca_file or "",
        tls_cert_file=tls_cert_file or "",
        tls_key_file=tls_key_file or "",
        timeout=timeout,
        connect_timeout=connect_timeout,
        pool_size=pool_size,
    )


class MongoBackend(NetworkBackend):
    """Every operation is one engine operation returning a future; the engine's workers batch
    concurrent reads into one ``find`` and concurrent writes into one bulk write."""

    def __init__(self, client: NetworkClient, database: str, collection: str) -> None:
        super().__init__(client)
        self._where = f"{client.name}/{database}.{collection}"

    def __repr__(self) -> str:
        return f"<MongoBackend {self._where}>"


def create(config: CachetteConfig) -> Backend:
    assert config.mongodb_url is not None
    client = connect(
        config.mongodb_url,
        config.database_name,
        config.table_name,
        timeout=config.timeout,
        connect_timeout=config.connect_timeout,
        pool_size=config.pool_size,
        tls_ca_file=config.tls_ca_file,
        tls_cert_file=config.tls_cert_file,
        tls_key_file=config.tls_key_file,
    )
    return MongoBackend(client, config.database_name, config.table_name)
