"""Every default is written once, in include/cachette/options.hpp; Python reads it from _core."""

from __future__ import annotations

import inspect

from cachette import _core
from cachette.backends import mongodb, redis
from cachette.config import CachetteConfig


def test_configuration_defaults_are_the_engine_defaults() -> None:
    # ttl 60 and the MongoDB names are the 0.1.x contract; the rest is whatever the engine says.
    config = CachetteConfig()
    assert config.ttl == _core.DEFAULT_TTL == 60
    assert config.max_memory == _core.DEFAULT_MAX_MEMORY
    assert config.timeout == _core.DEFAULT_TIMEOUT
    assert config.connect_timeout == _core.DEFAULT_CONNECT_TIMEOUT
    assert config.pool_size == _core.DEFAULT_POOL_SIZE
    assert config.pickle_max_size == _core.DEFAULT_FILE_MAX_SIZE
    assert config.database_name == _core.DEFAULT_DATABASE_NAME == "cachette-db"
    assert config.table_name == _core.DEFAULT_TABLE_NAME == "cachette"


def test_backend_connect_defaults_are_the_engine_defaults() -> None:
    for connect in (redis.connect, mongodb.connect):
        parameters = inspect.signature(connect).parameters
        assert parameters["timeout"].default == _core.DEFAULT_TIMEOUT
        assert parameters["connect_timeout"].default == _core.DEFAULT_CONNECT_TIMEOUT
        assert parameters["pool_size"].default == _core.DEFAULT_POOL_SIZE
    parameters = inspect.signature(mongodb.connect).parameters
    assert parameters["database"].default == _core.DEFAULT_DATABASE_NAME
    assert parameters["collection"].default == _core.DEFAULT_TABLE_NAME


def test_binding_defaults_are_the_engine_defaults() -> None:
    store = _core.MemoryStore()
    assert store.stats()["capacity"] == _core.DEFAULT_MAX_MEMORY
