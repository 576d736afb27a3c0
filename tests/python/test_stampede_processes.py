"""Several processes on one file store ask for the same cold key at once: the backend lock
(FileStore.add / erase_if_equal, one LMDB write transaction each) lets exactly one of them
run the factory, and the others get its value.

Workers are separate interpreters, as uvicorn workers are; they start together on a barrier
file so that their misses overlap."""

from __future__ import annotations

import os
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

path, runs_dir, go, ident = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path)])


async def factory():
    open(os.path.join(runs_dir, ident), "w").close()  # one file per run of the factory
    await asyncio.sleep(0.3)
    return {"computed_by": ident}


async def main():
    while not os.path.exists(go):
        time.sleep(0.001)
    got = await asyncio.gather(*(Cachette().get_or_set("cold", factory) for _ in range(20)))
    assert all(g == got[0] for g in got), got
    print(got[0]["computed_by"])


asyncio.run(main())
"""


def test_processes_on_one_file_store_compute_a_cold_key_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    go = tmp_path / "go"
    path = str(tmp_path / "cache.lmdb")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, path, str(runs), str(go), str(n)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for n in range(4)
    ]
    time.sleep(1.0)  # let every interpreter import and wait on the barrier
    go.touch()
    outputs = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        outputs.append(out.strip())
    ran = sorted(p.name for p in runs.iterdir())
    assert len(ran) == 1, f"the factory ran in {ran}"
    assert outputs == [ran[0]] * 4  # every process got the one computed value
