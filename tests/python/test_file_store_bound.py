"""The file store's default size bound (issue 19, item 6): unset, `pickle_max_size` is 1 GiB,
and a store at its bound stops growing (it evicts what expires soonest)."""

from __future__ import annotations

import os
import tempfile

from cachette import Cachette, _core


def test_default_file_store_is_bounded_at_one_gib() -> None:
    assert _core.DEFAULT_FILE_MAX_SIZE == 1 << 30
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "cache.lmdb")
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path)])
        assert Cachette.config().pickle_max_size == 1 << 30
        assert _core.FileStore(path + "-raw").stats()["capacity"] == 1 << 30
        # Unset in a settings object (None) is the bound too; only an explicit 0 lifts it.
        Cachette.load_config(
            lambda: [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", None)]
        )
        assert Cachette.config().pickle_max_size == 1 << 30
        Cachette.load_config(
            lambda: [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", 0)]
        )
        assert Cachette.config().pickle_max_size == 0


async def test_file_store_stops_growing_at_its_bound() -> None:
    """What the default bound does, at a bound small enough to reach: 40 MB written into a
    4 MiB store leaves at most 4 MiB charged and a file that never grew past its first map."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "cache.lmdb")
        bound = 4 << 20
        Cachette.load_config(
            lambda: [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", bound)]
        )
        cache = Cachette()
        value = b"y" * 4000
        for i in range(10_000):
            await cache.put(f"k:{i}", value)
        stats = Cachette.stats()
        assert stats["bytes"] <= bound
        assert stats["evictions"] > 8_000
        assert os.path.getsize(path) == _core.DEFAULT_FILE_INITIAL_MAP_SIZE
        assert await cache.fetch("k:9999") == value  # the newest entries are kept
