"""``get_or_set`` on a store that refuses writes: a real Redis at ``maxmemory`` with
``noeviction`` and a file store at its size bound. The factory's value is returned, not
thrown away with an exception; the failed write is counted (``store_failures`` in
``Cachette.stats()``) and logged once, then at most once a minute (docs/stampede.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from backends import require_env

from cachette import Cachette, CachetteError, stampede


@pytest.fixture
def full_redis() -> Iterator[str]:
    """A redis-server of this test's own on the spare port, 1 MB, noeviction."""
    port = int(require_env("CACHETTE_TEST_REDIS_SPARE_PORT"))
    process = subprocess.Popen(
        [
            require_env("CACHETTE_TEST_REDIS_SERVER"),
            *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--maxmemory", "1mb", "--maxmemory-policy", "noeviction", "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(250):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"redis-server did not listen on {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def fresh_log_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    # each test starts as a process that has not warned yet
    fresh = {what: stampede._RateLimit() for what in stampede._STORE_FAILURE_MESSAGES}
    monkeypatch.setattr(stampede, "_store_failure_logs", fresh)


async def fill(cache: Cachette) -> CachetteError:
    """Writes values until the store refuses even small ones; returns the last error."""
    refused: CachetteError | None = None
    for size in (32768, 1024, 32):
        for i in range(10_000):
            try:
                await cache.put(f"filler:{size}:{i}", "x" * size, ttl=600)
            except CachetteError as error:
                refused = error
                break
    if refused is None:
        pytest.fail("the store never filled up")
    return refused


async def check_get_or_set_returns_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    cache = Cachette()
    refused = await fill(cache)
    runs: list[str] = []

    async def factory(name: str) -> str:
        runs.append(name)
        return f"computed {name}"

    before = Cachette.stats()["store_failures"]
    with caplog.at_level(logging.WARNING, logger="cachette"):
        assert await cache.get_or_set("report:1", lambda: factory("1")) == "computed 1"
        after_first = Cachette.stats()["store_failures"]
        assert await cache.get_or_set("report:2", lambda: factory("2")) == "computed 2"
    assert runs == ["1", "2"]
    assert after_first > before  # the refused write is counted ...
    assert Cachette.stats()["store_failures"] > after_first
    warnings = [r for r in caplog.records if "not stored" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # ... and logged once
    assert type(refused).__name__ in warnings[0].getMessage()
    assert await cache.fetch("report:1") is None  # indeed not stored


@pytest.mark.integration
async def test_fault_full_redis_noeviction_get_or_set_returns_the_computed_value(
    full_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", full_redis)])
    await check_get_or_set_returns_and_reports(caplog)


FULL_DISK_SCENARIO = r"""
import asyncio, json, resource, signal, sys
from cachette import Cachette, CachetteError

# A full disk, simulated with the process's file size limit (no root, no mount): the file
# store meets it as EFBIG when it grows. SIGXFSZ would kill the process instead.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (72 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
path = sys.argv[1]
Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", 0)])


async def main():
    cache = Cachette()
    out = {}
    for size in (30000, 3000, 300, 30):  # until not even a small value fits
        for i in range(100_000):
            try:
                await cache.put(f"filler:{size}:{i}", "x" * size)
            except CachetteError as error:
                out["refused"] = type(error).__name__
                break
    before = Cachette.stats()["store_failures"]

    async def factory():
        return "computed"

    out["value"] = await cache.get_or_set("report", factory)
    out["counted"] = Cachette.stats()["store_failures"] - before
    out["stored"] = await cache.fetch("report")
    print(json.dumps(out))


asyncio.run(main())
"""


def test_fault_full_disk_file_store_get_or_set_returns_the_computed_value(
    tmp_path: pathlib.Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCENARIO, str(tmp_path / "cache.lmdb")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["refused"]  # the disk did fill up
    assert out["value"] == "computed"  # returned, not thrown away with an exception
    assert out["counted"] >= 1
    assert out["stored"] is None
    assert "not stored" in result.stderr  # the warning (logging's last-resort handler)


async def test_a_codec_refusing_the_value_still_raises() -> None:
    """Only the store's refusal is absorbed: a value the codec cannot encode is the
    caller's error, raised as before."""
    Cachette.load_config(lambda: [("codec", "json")])

    async def factory() -> object:
        return object()

    with pytest.raises(CachetteError):
        await Cachette().get_or_set("uncodable", factory)
