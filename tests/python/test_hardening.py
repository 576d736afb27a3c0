"""Regression tests of issue 11 (hardening): each is named after what it protects.

Bad keys and ttls give the same typed error on every backend; a failed reconfiguration
changes nothing; credentials never show in a repr; the vanilla codec gives str(value) as
0.1.x did. File-store damage and permissions are covered in test_file_store_damage.py.
"""

from __future__ import annotations

import math
import pathlib
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from tests.python.backends import BACKENDS, BackendSpec

from cachette import Cachette, CachetteError, CachetteValueError

LOCAL = {"inmemory", "pickle"}
EVERY_BACKEND = [
    pytest.param(spec, id=spec.name, marks=() if spec.name in LOCAL else pytest.mark.integration)
    for spec in BACKENDS
]


def load(*pairs: tuple[str, Any]) -> None:
    Cachette.load_config(lambda: list(pairs))


@pytest.fixture
def prefix() -> str:
    return f"hardening-{uuid.uuid4().hex[:8]}:"


# -- 3: a failed load_config loses nothing ------------------------------------------------


async def test_failed_reconfiguration_keeps_the_working_cache_and_its_data() -> None:
    cache = Cachette()
    await cache.put("kept", "value")
    with pytest.raises(ValidationError, match='"max_memory"'):
        load(("max_memory", 10**15))
    assert await cache.fetch("kept") == "value"
    assert Cachette.config().max_memory == 256 * 1024 * 1024


async def test_reconfiguring_to_a_file_that_is_not_a_store_keeps_the_working_cache(
    tmp_path: pathlib.Path,
) -> None:
    cache = Cachette()
    await cache.put("kept", "value")
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a cache\n" * 1000)
    with pytest.raises(CachetteError):
        load(("backend", "pickle"), ("pickle_path", str(foreign)), ("ttl", 9))
    assert Cachette.config().backend == "inmemory"
    assert await cache.fetch("kept") == "value"
    assert foreign.read_text() == "not a cache\n" * 1000


def test_max_memory_beyond_the_store_limit_names_the_key_and_the_limit() -> None:
    with pytest.raises(ValidationError) as info:
        load(("max_memory", 10**15))
    text = str(info.value)
    assert '"max_memory"' in text and "48 GiB" in text and "shards" not in text


def test_nul_in_pickle_path_is_refused_at_load_config(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValidationError, match='"pickle_path" value must not contain a NUL'):
        load(("backend", "pickle"), ("pickle_path", str(tmp_path / "a\x00b")))
    assert not list(tmp_path.iterdir())


# -- 4: credentials stay secret -----------------------------------------------------------


def test_config_repr_hides_the_redis_password() -> None:
    load(("backend", "redis"), ("redis_url", "redis://:hunter2@127.0.0.1:1/0"))
    for text in (repr(Cachette.config()), str(Cachette.config())):
        assert "hunter2" not in text
        assert "redis://:***@127.0.0.1:1/0" in text


def test_config_repr_hides_memcached_passwords() -> None:
    hosts = "memcached://alice:hunter2@127.0.0.1:1,memcached://bob:s3cret@127.0.0.1:2"
    load(("backend", "memcached"), ("memcached_host", hosts))
    text = repr(Cachette.config())
    assert "hunter2" not in text and "s3cret" not in text
    assert "alice:***@" in text and "bob:***@" in text


def test_invalid_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(ValidationError) as info:
        load(("backend", "redis"), ("redis_url", "redis://:hunter2@127.0.0.1:99999/0"))
    assert "hunter2" not in str(info.value)


# -- 7: bad keys and ttls are typed errors, the same on every backend ---------------------


@pytest.mark.parametrize("backend", EVERY_BACKEND)
async def test_lone_surrogate_key_is_a_typed_error_on_every_backend(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    Cachette.load_config(lambda: backend.settings(tmp_path))
    cache = Cachette()
    key = "bad\ud800key"
    for call in (
        lambda: cache.put(key, "v"),
        lambda: cache.fetch(key),
        lambda: cache.fetch_with_ttl(key),
        lambda: cache.clear(key=key),
        lambda: cache.clear(namespace=key),
    ):
        with pytest.raises(CachetteValueError, match="lone surrogate"):
            await call()


@pytest.mark.parametrize("backend", EVERY_BACKEND)
@pytest.mark.parametrize("ttl", [math.inf, -math.inf, math.nan, 10**20, 1e300, 10**12, -5])
async def test_unusable_ttl_is_a_typed_error_on_every_backend(
    backend: BackendSpec, tmp_path: pathlib.Path, prefix: str, ttl: float
) -> None:
    Cachette.load_config(lambda: backend.settings(tmp_path))
    cache = Cachette()
    with pytest.raises(CachetteValueError, match="ttl must be"):
        await cache.put(prefix + "k", "v", ttl=ttl)
    assert await cache.fetch(prefix + "k") is None


@pytest.mark.parametrize("backend", EVERY_BACKEND)
async def test_longest_ttl_is_kept_not_clamped(
    backend: BackendSpec, tmp_path: pathlib.Path, prefix: str
) -> None:
    Cachette.load_config(lambda: backend.settings(tmp_path))
    cache = Cachette()
    month = 30 * 24 * 3600  # the longest ttl, the same on every backend
    await cache.put(prefix + "k", "v", ttl=month)
    remaining, value = await cache.fetch_with_ttl(prefix + "k")
    assert value == "v"
    assert month - 5 <= remaining <= month
    with pytest.raises(CachetteValueError, match="at most 2592000 seconds"):
        await cache.put(prefix + "k", "v", ttl=month + 1)
    await cache.clear(key=prefix + "k")


@pytest.mark.parametrize("backend", EVERY_BACKEND)
async def test_empty_key_is_a_key_on_every_backend(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    Cachette.load_config(lambda: backend.settings(tmp_path))
    cache = Cachette()
    await cache.put("", "empty")
    assert await cache.fetch("") == "empty"
    assert (await cache.fetch_with_ttl(""))[1] == "empty"
    assert await cache.clear(key="") == 1
    assert await cache.fetch("") is None


# -- 8: vanilla gives str(value) for every value, as 0.1.x --------------------------------


@pytest.mark.parametrize("backend", EVERY_BACKEND)
async def test_vanilla_returns_str_of_bytes_like_0_1(
    backend: BackendSpec, tmp_path: pathlib.Path, prefix: str
) -> None:
    Cachette.load_config(lambda: [*backend.settings(tmp_path), ("codec", "vanilla")])
    cache = Cachette()
    for value in (b"A", bytearray(b"A"), 123, 1.5, None, [1, "a"], {"k": b"v"}):
        await cache.put(prefix + "k", value)
        assert await cache.fetch(prefix + "k") == str(value)
    await cache.clear(key=prefix + "k")


# -- 5: memcached login writes nothing into a server that does not ask for one ------------


def _memcached_command(address: str, command: bytes, end: bytes) -> bytes:
    import socket

    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(command)
        out = b""
        while not out.endswith(end):
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.integration
async def test_memcached_login_to_a_server_without_auth_stores_nothing() -> None:
    import os

    plain = os.environ.get("CACHETTE_TEST_MEMCACHED_HOST", "")
    if not plain:
        pytest.fail("CACHETTE_TEST_MEMCACHED_HOST is not set: run through scripts/with-services.sh")
    address = plain.split(",")[0].split("://")[-1]
    load(("backend", "memcached"), ("memcached_host", f"memcached://alice:hunter2@{address}"))
    cache = Cachette()
    # "auth" was the key the old login overwrote with the password.
    await cache.put("auth", "users-own-value")
    assert await cache.fetch("auth") == "users-own-value"
    dump = _memcached_command(address, b"lru_crawler metadump all\r\n", b"END\r\n")
    assert b"cachette-login" not in dump
    reply = _memcached_command(address, b"mg auth v\r\n", b"\r\n")
    assert b"hunter2" not in reply
    await cache.clear(key="auth")
