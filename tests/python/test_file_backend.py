"""The file backend (backend="pickle") in one process: types, expiry, namespaces, the size
limit, and the paths it must refuse without touching what is there."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

from cachette import Cachette, CachetteStorageError, CachetteValueTooLargeError, _core


def load(path: Path | str, *pairs: tuple[str, Any]) -> None:
    settings = [("backend", "pickle"), ("pickle_path", str(path)), *pairs]
    Cachette.load_config(lambda: settings)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "cachette.pkl"
    load(path)
    return path


async def test_values_keep_their_python_type(store_path: Path) -> None:
    cache = Cachette()
    values: dict[str, Any] = {
        "int": 123,
        "str": "héllo",
        "bytes": b"\x00\xff",
        "none_in_list": [None, 1.5, {"a": (1, 2)}],
        "set": {1, 2, 3},
        "decimal": decimal.Decimal("1.10"),
        "when": datetime.datetime(2024, 5, 1, 12, 0),
    }
    for key, value in values.items():
        await cache.put(key, value)
    for key, value in values.items():
        got = await cache.fetch(key)
        assert got == value
        assert type(got) is type(value)
    assert await cache.fetch("absent") is None
    assert await cache.fetch_with_ttl("absent") == (-1, None)


async def test_an_explicit_codec_is_honoured(tmp_path: Path) -> None:
    load(tmp_path / "c.pkl", ("codec", "vanilla"))
    await Cachette().put("n", 123)
    assert await Cachette().fetch("n") == "123"
    load(tmp_path / "d.pkl", ("codec", "json"))
    await Cachette().put("j", {"a": [1, 2]})
    assert await Cachette().fetch("j") == {"a": [1, 2]}


async def test_ttl_and_expiry(store_path: Path) -> None:
    cache = Cachette()
    await cache.put("default", "v")
    ttl, value = await cache.fetch_with_ttl("default")
    assert value == "v"
    assert 59 <= ttl <= 60
    # A put reclaims entries already expired: these must outlive each other's puts.
    await cache.put("short", "v", ttl=0.2)  # type: ignore[arg-type]
    await cache.put("short2", "v", ttl=0.2)  # type: ignore[arg-type]
    time.sleep(0.3)
    assert await cache.fetch("short") is None
    assert await cache.fetch_with_ttl("short2") == (-1, None)
    assert await cache.flush_expired() == 2
    assert await cache.flush_expired() == 0
    assert await cache.fetch("default") == "v"


async def test_clear_namespace_key_and_flush(store_path: Path) -> None:
    cache = Cachette()
    for i in range(50):
        await cache.put(f"user:{i}", i)
    await cache.put("user", "outside")
    await cache.put("users:1", "outside")
    await cache.put("a*[?]:1", "glob characters are plain bytes")
    await cache.put("a*[?]b:1", "outside")
    assert await cache.clear(namespace="user") == 50
    assert await cache.clear(namespace="user") == 0
    assert await cache.clear(namespace="a*[?]") == 1
    assert await cache.fetch("a*[?]b:1") == "outside"
    assert await cache.clear(key="user") == 1
    assert await cache.clear(key="user") == 0
    assert await cache.flush() == 2
    assert await cache.flush() == 0


async def test_long_keys(store_path: Path) -> None:
    cache = Cachette()
    base = "ns:" + "é" * 400  # 803 bytes of UTF-8
    await cache.put(base + "1", 1)
    await cache.put(base + "2", 2)
    assert await cache.fetch(base + "1") == 1
    assert await cache.fetch(base + "2") == 2
    assert await cache.fetch(base + "3") is None
    assert await cache.clear(namespace="ns") == 2


async def test_entries_persist_across_load_config(store_path: Path) -> None:
    await Cachette().put("kept", [1, 2, 3], ttl=600)
    load(store_path)  # a restarted application opens the same file
    assert await Cachette().fetch("kept") == [1, 2, 3]


async def test_size_limit(tmp_path: Path) -> None:
    load(tmp_path / "small.pkl", ("pickle_max_size", "1MiB"))
    assert Cachette.config().pickle_max_size == 1024 * 1024
    cache = Cachette()
    blob = b"x" * 10_000
    for i in range(300):
        await cache.put(f"k{i}", blob, ttl=1000 + i)
    stats = Cachette.stats()
    assert stats["capacity"] == 1024 * 1024
    assert 0 < stats["bytes"] <= 1024 * 1024
    assert stats["evictions"] > 0
    assert await cache.fetch("k0") is None  # expires soonest: evicted first
    assert await cache.fetch("k299") == blob
    with pytest.raises(CachetteValueTooLargeError, match="pickle_max_size"):
        await cache.put("huge", b"x" * (2 * 1024 * 1024))


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), (None, 1 << 30), ("64MB", 64_000_000), (2**21, 2**21)]
)
def test_pickle_max_size_values(tmp_path: Path, value: object, expected: int) -> None:
    load(tmp_path / "c.pkl", ("pickle_max_size", value))
    assert Cachette.config().pickle_max_size == expected


@pytest.mark.parametrize("value", ["lots", -5, True, "1kb"])
def test_pickle_max_size_errors_name_the_key(tmp_path: Path, value: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="pickle_max_size"):
        load(tmp_path / "c.pkl", ("pickle_max_size", value))


def test_path_in_a_missing_directory_fails_at_startup(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "c.pkl"
    with pytest.raises(pydantic.ValidationError, match="pickle_path"):
        load(missing)
    assert not missing.parent.exists()


def test_directory_as_path_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="is a directory"):
        load(tmp_path)


def test_path_under_a_regular_file_fails_even_for_root(tmp_path: Path) -> None:
    # Tests run as root, which ignores permission bits; a path whose parent is a regular
    # file cannot be created by anyone (ENOTDIR).
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with pytest.raises(pydantic.ValidationError, match="not a directory"):
        load(plain / "c.pkl")
    with pytest.raises(CachetteStorageError, match="plain"):
        _core.FileStore(str(plain / "c.pkl"))


def test_unwritable_location_fails_at_startup() -> None:
    # procfs refuses to create files, for root too: the store cannot open there.
    with pytest.raises(CachetteStorageError, match=r"/proc/cachette-test\.pkl"):
        load("/proc/cachette-test.pkl")


def test_a_real_pickle_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cachette.pkl"
    original = pickle.dumps({"key": ("value", 1700000000)})  # what 0.1.x wrote
    path.write_bytes(original)
    with pytest.raises(CachetteStorageError) as caught:
        load(path)
    assert str(path) in str(caught.value)
    assert "not a cachette file store" in str(caught.value)
    assert path.read_bytes() == original
    assert not Path(str(path) + "-lock").exists()


def test_random_bytes_are_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "noise.pkl"
    noise = os.urandom(64 * 1024)
    path.write_bytes(noise)
    with pytest.raises(CachetteStorageError, match=r"noise\.pkl"):
        load(path)
    assert path.read_bytes() == noise


def test_forked_child_reopens_the_store(store_path: Path) -> None:
    asyncio.run(Cachette().put("parent", "p"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the parent's environment must not be used; a new one is opened
        try:

            async def child() -> Any:
                await Cachette().put("child", "c")
                return await Cachette().fetch("parent")

            os.write(write, pickle.dumps(asyncio.run(child())))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        seen_by_child = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    assert seen_by_child == "p"  # one cache for both processes
    assert asyncio.run(Cachette().fetch("child")) == "c"
