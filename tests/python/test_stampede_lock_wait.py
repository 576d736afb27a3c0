"""``lock_ttl`` and ``lock_timeout`` with real processes (docs/stampede.md, "How long waiters
wait"): a caller that finds the backend lock taken waits while the lock is held, at most
``max(lock_timeout, lock_ttl)``; a lock whose owner died frees itself after ``lock_ttl``.

Workers are separate interpreters on one file store (the lock is an LMDB write transaction),
started together on a barrier file, as in test_stampede_processes.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import asyncio, importlib.util, os, sys, time

core = os.environ.get("CACHETTE_TEST_CORE")
if core:
    spec = importlib.util.spec_from_file_location("cachette._core", core)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cachette._core"] = module
    spec.loader.exec_module(module)

from cachette import Cachette

path, runs_dir, go, ident, factory_s, lock_timeout, lock_ttl = sys.argv[1:8]
Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("codec", "pickle")])


async def factory():
    open(os.path.join(runs_dir, ident), "w").close()  # one file per run of the factory
    await asyncio.sleep(float(factory_s))
    return {"computed_by": ident}


async def main():
    while not os.path.exists(go):
        time.sleep(0.001)
    if ident != "0":
        time.sleep(0.2)  # worker 0 usually takes the lock first (not relied upon)
    got = await Cachette().get_or_set(
        "cold", factory, lock_timeout=float(lock_timeout), lock_ttl=float(lock_ttl)
    )
    print(got["computed_by"], flush=True)


asyncio.run(main())
"""


def start_workers(
    tmp_path: Path, count: int, factory_s: float, lock_timeout: float, lock_ttl: float
) -> tuple[list[subprocess.Popen[str]], Path]:
    runs = tmp_path / "runs"
    runs.mkdir()
    go = tmp_path / "go"
    path = str(tmp_path / "cache.lmdb")
    args = [str(factory_s), str(lock_timeout), str(lock_ttl)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, path, str(runs), str(go), str(n), *args],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for n in range(count)
    ]
    time.sleep(1.0)  # let every interpreter import and wait on the barrier
    go.touch()
    return workers, runs


def test_waiters_wait_for_a_slow_factory_while_its_lock_lives(tmp_path: Path) -> None:
    """lock_timeout=0.3 and lock_ttl=4 around a 1.2 s factory: the docs' cure for slow
    factories. Waiters used to give up after lock_timeout and compute, four times in all."""
    workers, runs = start_workers(tmp_path, 4, factory_s=1.2, lock_timeout=0.3, lock_ttl=4)
    outputs = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        outputs.append(out.strip())
    ran = sorted(p.name for p in runs.iterdir())
    assert len(ran) == 1, f"the factory ran in {ran}"  # computed once, by the lock's owner
    assert outputs == ran * 4  # every process got its value


def test_a_dead_owners_lock_frees_after_lock_ttl_and_a_waiter_computes(tmp_path: Path) -> None:
    """Waiting while the lock is held is bounded: the owner is SIGKILLed mid-computation, its
    lock expires after lock_ttl, and a waiter computes then instead of waiting forever."""
    workers, runs = start_workers(tmp_path, 2, factory_s=30, lock_timeout=0.2, lock_ttl=1.5)
    deadline = time.monotonic() + 10
    while not any(runs.iterdir()):  # the owner holds the lock and runs its factory
        assert time.monotonic() < deadline
        time.sleep(0.005)
    locked = time.monotonic()
    (owner_run,) = [p.name for p in runs.iterdir()]
    owner, waiter = workers[int(owner_run)], workers[1 - int(owner_run)]
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    while len(list(runs.iterdir())) < 2:
        assert time.monotonic() - locked < 6, "the waiter never computed"
        time.sleep(0.005)
    took = time.monotonic() - locked
    waiter.kill()  # its own factory would sleep 30 s
    waiter.wait()
    # not at lock_timeout (0.2 s after it began to wait), but once the lock expired: 1.5 s
    # after the owner took it (plus up to one poll interval and process scheduling)
    assert 1.3 < took < 4.0, took
