"""Store.text_reader / Store.bytes_reader: the hit path's plain C functions of one key."""

from __future__ import annotations

import gc
import pathlib

import pytest

from cachette import Cachette, _core
from cachette.exceptions import CachetteValueError, CodecError


def test_readers_return_what_the_methods_return() -> None:
    store = _core.MemoryStore(1 << 20)
    store.put("k", "héllo".encode(), 60_000)
    store.put("bad", b"\xff\xfe", 60_000)
    read_text, read_bytes = store.text_reader(), store.bytes_reader()
    assert read_text("k") == store.get_text("k") == "héllo"
    assert read_bytes("k") == store.get("k") == "héllo".encode()
    assert read_text("bad") == store.get_text("bad") == "\udcff\udcfe"
    assert read_text("absent") is None
    store.put("empty", b"", 60_000)
    assert read_text("empty") == "" and read_bytes("empty") == b""
    long_ascii = "a" * 1000 + "b" * 37  # not a multiple of the 32-byte step
    store.put("long", long_ascii.encode(), 60_000)
    assert read_text("long") == long_ascii
    store.put("late", ("a" * 1000 + "é").encode(), 60_000)  # non-ASCII only in the tail
    assert read_text("late") == "a" * 1000 + "é"
    assert read_bytes("absent") is None
    assert read_bytes("") is None


def test_readers_refuse_keys_the_methods_refuse_with_type_error() -> None:
    store = _core.MemoryStore(1 << 20)
    for read in (store.text_reader(), store.bytes_reader()):
        with pytest.raises(TypeError):
            read(b"bytes key")
        with pytest.raises(TypeError):
            read("lone \ud800 surrogate")


def test_a_reader_keeps_its_store_alive() -> None:
    store = _core.MemoryStore(1 << 20)
    store.put("k", b"v", 60_000)
    read = store.bytes_reader()
    del store
    gc.collect()
    assert read("k") == b"v"


def test_readers_see_an_erased_entry_as_missing() -> None:
    store = _core.MemoryStore(1 << 20)
    store.put("k", b"v", 60_000)
    read = store.text_reader()
    store.erase("k")
    assert read("k") is None


async def test_fetch_hit_path_keeps_the_typed_key_errors() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    cache = Cachette()
    await cache.put("k", "v")
    assert await cache.fetch("k") == "v"
    with pytest.raises(CachetteValueError):
        await cache.fetch(123)  # type: ignore[arg-type]
    with pytest.raises(CachetteValueError):
        await cache.fetch("lone \ud800")


def test_text_writer_stores_what_put_text_stores() -> None:
    store = _core.MemoryStore(1 << 20)
    write = store.text_writer()
    write("k", "héllo", 60_000)
    assert store.get("k") == "héllo".encode()
    with pytest.raises(TypeError):
        write(1, "v", 60_000)
    with pytest.raises(UnicodeEncodeError):
        write("k", "lone \ud800", 60_000)
    with pytest.raises(TypeError):
        write("k", b"bytes", 60_000)
    with pytest.raises(TypeError):
        write("k", "v")
    with pytest.raises(CachetteValueError):
        write("k", "v", 0)  # the store's own check: a ttl must be positive
    assert store.get("k") == "héllo".encode()


async def test_put_fast_path_keeps_the_typed_errors() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    cache = Cachette()
    with pytest.raises(CodecError):  # the codec decides, as before the fast path
        await cache.put("k", "lone \ud800")
    with pytest.raises(CachetteValueError):
        await cache.put("lone \ud800", "v")


def test_text_reader_reuses_its_string_until_the_entry_is_written_again() -> None:
    store = _core.MemoryStore(1 << 20)
    read = store.text_reader()
    store.put("k", b"a" * 1024, 60_000)
    first = read("k")
    assert first == "a" * 1024
    assert read("k") is first  # kept: the bytes were not read again
    store.put("k", b"b" * 1024, 60_000)  # same size: the entry is rewritten in place
    second = read("k")
    assert second == "b" * 1024
    assert read("k") is second
    store.put("k", "é".encode() * 300, 60_000)  # a new block, not ASCII
    assert read("k") == "é" * 300
    assert read("k") is read("k")
    store.put("k", b"short", 60_000)  # short strings are built on every hit
    assert read("k") == "short"
    assert read("k") is not read("k")
    store.erase("k")
    assert read("k") is None
    store.put("k", b"a" * 1024, 60_000)  # the first value again, written anew
    assert read("k") == "a" * 1024
    store.put("k", b"c" * 1024, 60_000)
    assert read("k") == "c" * 1024
    store.flush()
    assert read("k") is None
    store.put("k", b"d" * 1024, 60_000)  # after a flush, into an emptied shard
    assert read("k") == "d" * 1024


def test_text_writer_and_reader_of_one_store_agree() -> None:
    store = _core.MemoryStore(1 << 20)
    read, write = store.text_reader(), store.text_writer()
    write("k", "a" * 1024, 60_000)
    first = read("k")
    assert read("k") is first
    write("k", "b" * 1024, 60_000)  # drops the kept "a..." string
    assert read("k") == "b" * 1024
    other = _core.MemoryStore(1 << 20)  # another store keeps its own strings
    other.text_writer()("k", "c" * 1024, 60_000)
    assert other.text_reader()("k") == "c" * 1024
    assert read("k") == "b" * 1024


def test_text_reader_keeps_no_value_too_large_for_its_budget() -> None:
    # A 1 MiB store keeps at most 256 KiB of strings, none over a sixteenth of that.
    store = _core.MemoryStore(1 << 20)
    read = store.text_reader()
    store.put("big", b"x" * (32 << 10), 60_000)
    assert read("big") == "x" * (32 << 10)
    assert read("big") is not read("big")  # built anew on every hit
    store.put("small", b"y" * 1024, 60_000)
    assert read("small") is read("small")


def test_text_readers_of_the_file_store_build_each_hit(tmp_path: pathlib.Path) -> None:
    store = _core.FileStore(str(tmp_path / "store"))
    read = store.text_reader()
    store.put("k", b"v" * 100, 60_000)
    assert read("k") == "v" * 100
    store.put("k", b"w" * 100, 60_000)
    assert read("k") == "w" * 100


async def test_fetch_returns_the_latest_value_through_the_kept_strings() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    cache = Cachette()
    for round_ in range(50):
        value = f"{round_:04d}" * 256  # 1 KiB, the same size every round
        await cache.put("k", value)
        assert await cache.fetch("k") == value
        assert await cache.fetch("k") == value


def test_kept_strings_stay_within_their_budget_and_are_let_go() -> None:
    # A 4 MiB store keeps at most 1 MiB of strings, none over 64 KiB.
    store = _core.MemoryStore(4 << 20)
    read, write = store.text_reader(), store.text_writer()
    assert store.stats()["kept_bytes"] == 0
    keys = [f"k{i}" for i in range(300)]
    for k in keys:
        write(k, k[-1] * (8 << 10), 60_000)
    for _ in range(2):
        for k in keys:
            assert read(k) == k[-1] * (8 << 10)
    kept = store.stats()["kept_bytes"]
    assert 512 << 10 < kept <= 1 << 20
    for k in keys:  # every rewrite lets go of its key's string
        write(k, "x" * (8 << 10), 60_000)
    assert store.stats()["kept_bytes"] == 0
    for k in keys[:10]:
        read(k)
    assert store.stats()["kept_bytes"] > 0
    store.flush()
    assert store.stats()["kept_bytes"] == 0
    write("k", "y" * 1024, 60_000)
    assert read("k") == "y" * 1024


async def test_cachette_stats_report_the_kept_strings() -> None:
    Cachette.load_config(lambda: [("backend", "inmemory")])
    cache = Cachette()
    await cache.put("k", "v" * 2048)
    assert await cache.fetch("k") == "v" * 2048
    assert Cachette.stats()["kept_bytes"] >= 2048
    await cache.flush()
    assert Cachette.stats()["kept_bytes"] == 0
