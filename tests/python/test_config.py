"""load_config: every key validated at startup with the established messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from cachette import Cachette


def load(*pairs: tuple[str, Any]) -> None:
    Cachette.load_config(lambda: list(pairs))


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("ttl", 0)], 'The "ttl" value must between 1 or 3600 seconds.'),
        ([("ttl", 3601)], 'The "ttl" value must between 1 or 3600 seconds.'),
        ([("backend", "redis")], 'The "redis_url" cannot be null when using redis as backend.'),
        ([("backend", "valkey")], 'The "valkey_url" cannot be null when using valkey as backend.'),
        (
            [("backend", "memcached")],
            'The "memcached_host" cannot be null when using memcached as backend.',
        ),
        (
            [("backend", "mongodb")],
            'The "mongodb_url" cannot be null when using MongoDB as backend.',
        ),
        (
            [("backend", "mongodb"), ("mongodb_url", "mongodb://h:1"), ("database_name", "")],
            'The "database_name" cannot be null when using MongoDB as backend.',
        ),
        (
            [("backend", "mongodb"), ("mongodb_url", "mongodb://h:1"), ("table_name", "")],
            'The "table_name" cannot be null when using MongoDB as backend.',
        ),
        ([("backend", "pickle")], 'The "pickle_path" cannot be null when using pickle as backend.'),
        ([("backend", "dynamodb")], 'The "backend" value must be one of'),
        ([("codec", "yaml")], 'The "codec" value must be one of'),
        ([("ttl", "soon")], '"ttl"'),
        ([("ttl", 1.5)], '"ttl"'),
        ([("max_memory", "lots")], '"max_memory"'),
        ([("max_memory", 10)], '"max_memory"'),
        ([("timeout", 0)], '"timeout"'),
        ([("pool_size", 0)], '"pool_size"'),
        ([("fail_open", "maybe")], '"fail_open"'),
    ],
)
def test_invalid_config_names_the_key(pairs: list[tuple[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        load(*pairs)
    assert message in str(info.value)


def test_invalid_config_keeps_previous_configuration() -> None:
    load(("ttl", 5))
    with pytest.raises(ValidationError):
        load(("ttl", 0))
    assert Cachette.config().ttl == 5


def test_keys_are_case_insensitive() -> None:
    load(("BACKEND", "InMemory"), ("TTL", 30), ("Codec", "JSON"))
    config = Cachette.config()
    assert (config.backend, config.ttl, config.effective_codec) == ("inmemory", 30, "json")


def test_defaults() -> None:
    config = Cachette.config()
    assert config.backend == "inmemory"
    assert config.effective_codec == "vanilla"
    assert config.ttl == 60
    assert config.database_name == "cachette-db"
    assert config.table_name == "cachette"
    assert config.max_memory == 256 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "size"),
    [("64MB", 64_000_000), ("64MiB", 64 * 1024**2), ("1gib", 1024**3), (2_000_000, 2_000_000)],
)
def test_max_memory_accepts_sizes(text: Any, size: int) -> None:
    load(("max_memory", text))
    assert Cachette.config().max_memory == size


def test_base_settings_instance() -> None:
    class Settings(BaseSettings):
        backend: str = "inmemory"
        ttl: int = 7
        unrelated_app_setting: str = "ignored"

    Cachette.load_config(lambda: Settings())
    assert Cachette.config().ttl == 7


def test_not_a_settings_object() -> None:
    with pytest.raises(TypeError, match="list of"):
        Cachette.load_config(lambda: 42)


def test_decorator_returns_the_function() -> None:
    @Cachette.load_config
    def settings() -> list[tuple[str, Any]]:
        return [("ttl", 9)]

    assert settings() == [("ttl", 9)]
    assert Cachette.config().ttl == 9
