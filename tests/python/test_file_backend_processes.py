"""Several processes, one file store: concurrent writers and readers of the same keys, and
writers killed with SIGKILL at arbitrary points while others keep working. Every entry a
writer reported as written (after ``put`` returned) must survive, intact.

Workers are separate interpreters (subprocess), as uvicorn/gunicorn workers are. When the
suite runs against a sanitizer build (CACHETTE_TEST_CORE), the workers load it too."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cachette import _core

WORKER = r"""
import asyncio, hashlib, importlib.util, os, sys

core = os.environ.get("CACHETTE_TEST_CORE")
if core:
    spec = importlib.util.spec_from_file_location("cachette._core", core)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cachette._core"] = module
    spec.loader.exec_module(module)

from cachette import Cachette

path, role, ident, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("ttl", 3600)])


def value_for(key, size):
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {"key": key, "body": (digest * (size // 64 + 1))[:size]}


async def shared():
    # Everyone writes and reads the same keys; a value read must be one some process wrote
    # for that very key, whole.
    cache = Cachette()
    for n in range(count):
        key = f"shared:{n % 50}"
        await cache.put(key, (ident, n, value_for(key, 300 + n % 7 * 1000)))
        got = await cache.fetch(f"shared:{(n * 7) % 50}")
        if got is not None:
            writer, m, value = got
            assert value == value_for(f"shared:{(n * 7) % 50}", 300 + m % 7 * 1000), got
        await cache.put(f"own:{ident}:{n}", n)
    for n in range(count):
        assert await cache.fetch(f"own:{ident}:{n}") == n


async def writer():
    # Reports each key on stdout once put() has returned: that entry is committed.
    cache = Cachette()
    n = 0
    while count == 0 or n < count:
        key = f"w:{ident}:{n}"
        size = (200_000 if n % 5 == 0 else 100)  # some long transactions to die inside
        await cache.put(key, value_for(key, size))
        sys.stdout.write(key + " " + str(size) + "\n")
        sys.stdout.flush()
        n += 1


async def steady():
    # Keeps writing, reading and clearing while writers are being killed.
    cache = Cachette()
    n = 0
    while not os.path.exists(path + ".stop"):
        key = f"steady:{ident}:{n % 200}"
        await cache.put(key, value_for(key, 500))
        assert await cache.fetch(key) == value_for(key, 500)
        if n % 97 == 0:
            await cache.clear(namespace=f"steady:{ident}")
            await cache.flush_expired()
        n += 1
    print(n, flush=True)


asyncio.run({"shared": shared, "writer": writer, "steady": steady}[role]())
"""


def value_for(key: str, size: int) -> dict[str, str]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {"key": key, "body": (digest * (size // 64 + 1))[:size]}


def start(path: Path, role: str, ident: str, count: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), role, ident, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def decode(raw: bytes) -> Any:
    import pickle

    return pickle.loads(raw)


def test_four_processes_share_keys(tmp_path: Path) -> None:
    path = tmp_path / "shared.pkl"
    workers = [start(path, "shared", str(i), 400) for i in range(4)]
    for w in workers:
        _out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    store = _core.FileStore(str(path))
    for i in range(4):
        for n in range(0, 400, 37):
            raw = store.get(f"own:{i}:{n}")
            assert raw is not None and decode(raw) == n
    for k in range(50):
        raw = store.get(f"shared:{k}")
        assert raw is not None
        ident, n, value = decode(raw)
        assert ident in {"0", "1", "2", "3"}
        assert value == value_for(f"shared:{k}", 300 + n % 7 * 1000)


def test_writers_killed_with_sigkill_lose_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "killed.pkl"
    steady = [start(path, "steady", str(i)) for i in range(2)]
    committed: list[tuple[str, int]] = []
    rng = random.Random(5)
    try:
        for round_ in range(12):
            victim = start(path, "writer", f"r{round_}")
            assert victim.stdout is not None
            wanted = rng.randint(1, 40)
            reported: list[str] = []
            while len(reported) < wanted:
                line = victim.stdout.readline()
                assert line, victim.stderr.read() if victim.stderr else "writer died"
                reported.append(line)
            victim.send_signal(signal.SIGKILL)  # usually in the middle of its next put
            rest, _ = victim.communicate(timeout=60)
            assert victim.returncode == -signal.SIGKILL
            # Lines after the last newline were cut off by the kill: not reported.
            lines = [line.rstrip("\n") for line in reported] + rest.split("\n")[:-1]
            for line in lines:
                key, size = line.split()
                committed.append((key, int(size)))
    finally:
        (tmp_path / "killed.pkl.stop").write_text("")
        for w in steady:
            out, err = w.communicate(timeout=120)
            assert w.returncode == 0, err
            assert int(out) > 0  # it kept working throughout
    assert len(committed) >= 12
    store = _core.FileStore(str(path))
    for key, size in committed:
        raw = store.get(key)
        assert raw is not None, f"{key} was committed and is lost"
        assert decode(raw) == value_for(key, size)
    # The whole store is still walkable and consistent after the kills.
    stats = store.stats()
    assert stats["entries"] >= len(committed)
    assert store.erase_prefix("w:") >= len(committed)
    remaining = store.stats()["entries"]  # the steady workers' entries, all live
    assert store.flush() == remaining
    assert store.stats()["entries"] == 0
    assert store.stats()["bytes"] == 0


def test_processes_killed_at_any_point_leave_the_store_usable(tmp_path: Path) -> None:
    # Killed while opening, reading or writing: their reader slots are reclaimed on open
    # and whenever the table fills, and a lock they held is recovered (robust mutex).
    path = tmp_path / "readers.pkl"
    _core.FileStore(str(path)).put("k", b"v", -1)
    for _ in range(6):
        procs = [start(path, "shared", f"x{_}{i}", 5) for i in range(3)]
        time.sleep(0.05)
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.communicate(timeout=60)
    store = _core.FileStore(str(path))
    assert store.get("k") == b"v"
    store.put("after", b"w", -1)
    assert store.get("after") == b"w"
