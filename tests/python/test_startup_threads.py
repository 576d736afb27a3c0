"""Start-up under threads: several threads, each running its own event loop, make their first
calls on a freshly configured cache at the same moment. The backend must be created once and
every call must succeed; before the start-up lock, each thread could create a backend of its
own, all but one were dropped, and a dropped backend closes its client under the calls
already sent through it ("the client is closed")."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import uuid

import pytest
from backends import BACKEND_PARAMS, BackendSpec

from cachette import Cachette
from cachette import core as cachette_core

THREADS = 4
OPS = 100  # per thread: put then fetch, alternately
CONFIGURATIONS = 3  # fresh configurations in a row, each with cold start-up


def run_threads(prefix: str) -> tuple[list[str], int]:
    """Runs THREADS threads, each with its own loop, from one barrier; returns the errors
    (type and message) and how many operations succeeded."""
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []
    done = [0] * THREADS

    async def work(n: int) -> None:
        cache = Cachette()
        for i in range(OPS // 2):
            key = f"{prefix}:{n}:{i}"
            for op in ("put", "fetch"):
                try:
                    if op == "put":
                        await cache.put(key, f"v{n}-{i}")
                    else:
                        got = await cache.fetch(key)
                        if got != f"v{n}-{i}":
                            errors.append(f"wrong value for {key}: {got!r}")
                            continue
                    done[n] += 1
                except Exception as e:  # every error is what the test counts
                    errors.append(f"{type(e).__name__}: {e}")

    def thread_main(n: int) -> None:
        barrier.wait()
        asyncio.run(work(n))

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a thread hung"
    return errors, sum(done)


@pytest.mark.parametrize(
    "backend", [p for p in BACKEND_PARAMS if p.values[0].shared], ids=lambda b: b.name
)
def test_fault_threads_first_calls_on_fresh_configuration_all_succeed(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    for round_ in range(CONFIGURATIONS):
        # a configuration of its own each round (the timeout differs), so that start-up is cold
        settings = [*backend.settings(tmp_path), ("timeout", 2.0 + round_ / 10)]
        Cachette.load_config(lambda s=settings: s)  # type: ignore[misc]
        assert cachette_core._runtime.backend is None  # network backends start on first use
        errors, ok = run_threads(f"startup-threads:{uuid.uuid4().hex}")
        assert errors == [], f"round {round_}: {len(errors)} errors, first: {errors[:3]}"
        assert ok == THREADS * OPS


def test_threads_starting_together_create_one_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """No server needed: counts backend creations while threads race to start one."""
    created: list[object] = []
    real_create = cachette_core.create_backend
    gate = threading.Event()

    def slow_create(config: object) -> object:
        gate.wait(0.2)  # let every thread reach start() while the first is inside
        backend = real_create(config)  # type: ignore[arg-type]
        created.append(backend)
        return backend

    monkeypatch.setattr(cachette_core, "create_backend", slow_create)
    runtime = cachette_core._Runtime(Cachette.config())
    barrier = threading.Barrier(THREADS)
    seen: list[object] = []

    def start() -> None:
        barrier.wait()
        seen.append(runtime.start())

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(timeout=10)
    assert len(created) == 1
    assert all(b is created[0] for b in seen)
