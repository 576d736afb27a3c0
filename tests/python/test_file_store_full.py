"""The file store on a full disk (issue 19, item 5).

The full disk is real: a 72 MiB tmpfs mounted for the test (the store maps 64 MiB at first, so
it can grow by a few MiB and then meets ENOSPC). Where mounting is refused (not root, no
tmpfs), the same scenario runs with the process's file size limit (RLIMIT_FSIZE) instead,
which the store meets as EFBIG. Either way the scenario runs in a child process, so that
neither the mount nor the limit touches the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

DISK = 72 << 20

SCENARIO = r"""
import asyncio, json, resource, signal, sys
from cachette import Cachette, CachetteStoreFullError

path, mode, disk = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "rlimit":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

@Cachette.load_config
def config():
    # Unlimited: the disk, not the store's bound, is what fills.
    return [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", 0)]

VALUE = b"x" * 3000

async def fill(cache, prefix):
    for i in range(100_000):
        try:
            await cache.put(f"{prefix}:{i}", VALUE)
        except CachetteStoreFullError:
            return i
    raise AssertionError("the disk never filled")

async def main():
    cache = Cachette()
    out = {}
    out["stored"] = stored = await fill(cache, "a")
    out["refused_nothing_written"] = await cache.fetch(f"a:{stored}") is None
    out["reads"] = await cache.fetch("a:0") == VALUE
    out["ttl"] = (await cache.fetch_with_ttl("a:1"))[0]
    out["cleared_key"] = await cache.clear(key="a:0")
    for i in range(stored):
        if i % 2 == 0:
            await cache.clear(key=f"a:{i}")  # single removals on a full store
    out["cleared_namespace"] = await cache.clear(namespace="a")
    out["stored_again"] = await fill(cache, "b")
    out["flushed"] = await cache.flush()
    await cache.put("after", VALUE)
    out["after"] = await cache.fetch("after") == VALUE
    out["stored_third"] = await fill(cache, "c")
    out["flushed_again"] = await cache.flush()
    print(json.dumps(out))

asyncio.run(main())
"""


@pytest.fixture
def full_disk() -> Iterator[tuple[Path, str]]:
    """A directory on a small file system of its own (tmpfs), or, where mounting is refused,
    a plain directory and the mode that makes the child limit its file size instead."""
    directory = Path(tempfile.mkdtemp(prefix="cachette-full-"))
    mounted = False
    if os.geteuid() == 0:
        mount = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs", str(directory)],
            capture_output=True,
        )
        mounted = mount.returncode == 0
    try:
        yield directory, "tmpfs" if mounted else "rlimit"
    finally:
        if mounted:
            subprocess.run(["umount", str(directory)], check=True)
        subprocess.run(["rm", "-rf", str(directory)], check=True)


def test_full_disk_refuses_writes_as_store_full_and_still_reads_clears_and_flushes(
    full_disk: tuple[Path, str],
) -> None:
    directory, mode = full_disk
    child = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(directory / "cache.lmdb"), mode, str(DISK)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    # The disk filled, and the refused put wrote nothing while the store still read.
    assert out["stored"] > 15_000, out
    assert out["refused_nothing_written"] and out["reads"], out
    assert 0 < out["ttl"] <= 60, out
    # Removals on the full store: a key, every other key one by one, then the namespace.
    assert out["cleared_key"] == 1, out
    assert out["cleared_namespace"] == out["stored"] // 2, out
    # Emptied, it fills again, and flush() works on the full store, twice over.
    assert out["stored_again"] > out["stored"] // 2, out
    assert out["flushed"] == out["stored_again"], out
    assert out["after"], out
    assert out["stored_third"] > out["stored"] // 2, out
    assert out["flushed_again"] == out["stored_third"] + 1, out
