"""File backend: get hits and sets of 100-byte values, one process and four processes.

Side by side in one run, on one ext4 directory:
  ours                 cachette backend="pickle" (LMDB) via `await Cachette().fetch/put`
  diskcache.Cache      its sync get/set called directly, as a FastAPI handler would
  diskcache.FanoutCache  the same, 8 shards
  0.1.x pattern        the original file backend as described: every operation reads the
                       whole pickle file and every put rewrites it, no lock (written for this
                       bench); 1,000 entries, one process only (it loses data when shared)
Every measurement runs in fresh spawned processes that start together on a barrier; each
operation is timed on its own (perf_counter_ns), so p50/p99 are per-operation latencies.

Run: .venv/bin/python bench/bench_file.py [--repeats 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import pickle
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import ROOT, machine, median, write_section

VALUE = b"v" * 100
KEYS = 10_000
ORIGINAL_ENTRIES = 1_000
WORK = ROOT / "build" / "bench-file"

# Operations per process and run, per subject; slow subjects run fewer, ops/s normalises.
OPS = {
    "ours": {"get": 50_000, "set": 20_000},
    "diskcache.Cache": {"get": 20_000, "set": 2_000},
    "diskcache.FanoutCache": {"get": 20_000, "set": 2_000},
    "0.1.x pattern": {"get": 300, "set": 300},
}


class PickleFileStore:
    """The 0.1.x file backend's pattern: a dict of key -> (value, expiry) pickled whole."""

    def __init__(self, path: Path, ttl: int = 3600) -> None:
        self.path = path
        self.ttl = ttl

    def _load(self) -> dict[str, tuple[Any, float]]:
        try:
            with open(self.path, "rb") as f:
                data: dict[str, tuple[Any, float]] = pickle.load(f)
                return data
        except FileNotFoundError:
            return {}

    def get(self, key: str) -> Any:
        entry = self._load().get(key)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def set(self, key: str, value: Any) -> None:
        data = self._load()
        data[key] = (value, time.time() + self.ttl)
        with open(self.path, "wb") as f:
            pickle.dump(data, f)


def open_subject(name: str, directory: Path) -> tuple[Any, Any, bool]:
    """(get, set, is_async) for `name` storing under `directory`."""
    if name == "ours":
        from cachette import Cachette

        path = str(directory / "cache.lmdb")
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("ttl", 3600)])

        async def get(key: str) -> Any:
            return await Cachette().fetch(key)

        async def put(key: str, value: Any) -> None:
            await Cachette().put(key, value)

        return get, put, True
    if name == "diskcache.Cache":
        import diskcache

        c = diskcache.Cache(str(directory))
        return c.get, (lambda k, v: c.set(k, v, expire=3600)), False
    if name == "diskcache.FanoutCache":
        import diskcache

        f = diskcache.FanoutCache(str(directory), shards=8)
        return f.get, (lambda k, v: f.set(k, v, expire=3600)), False
    if name == "0.1.x pattern":
        p = PickleFileStore(directory / "cache.pkl")
        return p.get, p.set, False
    raise ValueError(name)


async def run_ops(get: Any, put: Any, is_async: bool, op: str, keys: list[str]) -> list[int]:
    clock = time.perf_counter_ns
    lat = []
    if is_async:
        for k in keys:
            t0 = clock()
            if op == "get":
                assert await get(k) is not None
            else:
                await put(k, VALUE)
            lat.append(clock() - t0)
    else:
        for k in keys:
            t0 = clock()
            if op == "get":
                assert get(k) is not None
            else:
                put(k, VALUE)
            lat.append(clock() - t0)
    return lat


def worker(
    name: str, directory: str, op: str, ops: int, key_space: int, seed: int, barrier: Any, out: Any
) -> None:
    get, put, is_async = open_subject(name, Path(directory))
    keys = [f"key:{(seed * 7919 + i * 31) % key_space}" for i in range(ops)]
    barrier.wait()
    start = time.perf_counter()
    lat = asyncio.run(run_ops(get, put, is_async, op, keys))
    out.put((time.perf_counter() - start, lat))


def prefill(name: str, directory: str, key_space: int) -> None:
    get, put, is_async = open_subject(name, Path(directory))
    keys = [f"key:{i}" for i in range(key_space)]
    if name == "0.1.x pattern":  # one rewrite instead of a thousand
        PickleFileStore(Path(directory) / "cache.pkl").set("warm", VALUE)
        data = {k: (VALUE, time.time() + 3600) for k in keys}
        with open(Path(directory) / "cache.pkl", "wb") as f:
            pickle.dump(data, f)
        return
    asyncio.run(run_ops(get, put, is_async, "set", keys))


def measure(name: str, directory: Path, op: str, procs: int, ctx: Any) -> dict[str, float]:
    key_space = ORIGINAL_ENTRIES if name == "0.1.x pattern" else KEYS
    ops = OPS[name][op]
    barrier = ctx.Barrier(procs)
    out = ctx.Queue()
    ps = [
        ctx.Process(target=worker, args=(name, str(directory), op, ops, key_space, i, barrier, out))
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    results = [out.get() for _ in ps]
    for p in ps:
        p.join()
        assert p.exitcode == 0, f"{name} {op} worker failed"
    lat = sorted(x for _, ls in results for x in ls)
    wall = max(t for t, _ in results)
    return {
        "ops_s": len(lat) / wall,
        "p50_us": lat[len(lat) // 2] / 1e3,
        "p99_us": lat[int(len(lat) * 0.99)] / 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply operation counts")
    args = parser.parse_args()
    for subject in OPS.values():
        for op in subject:
            subject[op] = max(100, int(subject[op] * args.scale))

    ctx = mp.get_context("spawn")
    shutil.rmtree(WORK, ignore_errors=True)
    dirs = {name: WORK / name.replace(" ", "_") for name in OPS}
    for name, d in dirs.items():
        d.mkdir(parents=True)
        key_space = ORIGINAL_ENTRIES if name == "0.1.x pattern" else KEYS
        p = ctx.Process(target=prefill, args=(name, str(d), key_space))
        p.start()
        p.join()

    scenarios = [(op, procs) for procs in (1, 4) for op in ("get", "set")]
    samples: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for _ in range(args.repeats):
        for op, procs in scenarios:
            for name in OPS:  # interleaved, so that noise hits every subject alike
                if name == "0.1.x pattern" and procs > 1:
                    continue
                samples.setdefault((name, op, procs), []).append(
                    measure(name, dirs[name], op, procs, ctx)
                )
    results = {
        key: {m: median([s[m] for s in runs]) for m in runs[0]} for key, runs in samples.items()
    }
    print(json.dumps({f"{n} {o} x{p}": r for (n, o, p), r in results.items()}, indent=2))
    shutil.rmtree(WORK, ignore_errors=True)
    write_section("file", report(results, args.repeats))


def report(results: dict[tuple[str, str, int], dict[str, float]], repeats: int) -> str:
    lines = [
        "## File backend",
        "",
        f"`bench/bench_file.py` ({machine()}, ext4, {repeats} interleaved repeats, medians). "
        "100-byte values, 10,000 keys (the 0.1.x pattern: 1,000 entries). Ours goes through "
        '`await Cachette().fetch/put` with `backend="pickle"`; diskcache\'s sync `get`/`set` are '
        "called directly. Each process runs in a fresh interpreter; processes start together. "
        "ops/s is the total over all processes; latencies are per operation. "
        "Speed-up = peer ÷ ours (above 1 means we are faster).",
        "",
        "| scenario | store | ops/s | p50 (µs) | p99 (µs) | speed-up ops/s | p99 ÷ ours |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for procs in (1, 4):
        for op in ("get", "set"):
            ours = results[("ours", op, procs)]
            for name in OPS:
                r = results.get((name, op, procs))
                if r is None:
                    continue
                speed = "—" if name == "ours" else f"{ours['ops_s'] / r['ops_s']:.1f}x"
                tail = "—" if name == "ours" else f"{r['p99_us'] / ours['p99_us']:.1f}x"
                label = f"{op} {'hit' if op == 'get' else ''}".strip()
                plural = "es" if procs > 1 else ""
                lines.append(
                    f"| {label}, {procs} process{plural} | {name} | {r['ops_s']:,.0f} | "
                    f"{r['p50_us']:.1f} | {r['p99_us']:.1f} | {speed} | {tail} |"
                )
    get1 = results[("diskcache.Cache", "get", 1)]["ops_s"] / results[("ours", "get", 1)]["ops_s"]
    set1 = results[("diskcache.Cache", "set", 1)]["ops_s"] / results[("ours", "set", 1)]["ops_s"]
    p99 = results[("ours", "set", 4)]["p99_us"] / results[("diskcache.Cache", "set", 4)]["p99_us"]
    lines += [
        "",
        "Targets of issue 5 against diskcache.Cache: get hits ≥ 3x faster in one process — "
        f"**{1 / get1:.1f}x**; sets ≥ 10x — **{1 / set1:.1f}x**; with four writer processes, "
        f"set p99 ≤ 1/10 of diskcache's — **1/{1 / p99:.0f}** "
        f"({results[('ours', 'set', 4)]['p99_us']:.1f} µs: a put never holds the event loop "
        "for long, even while three other processes write).",
        "",
        "Notes. The machine has 2 cores, so four processes share them: aggregate get "
        "throughput cannot grow past one process's much. LMDB serialises writers, so four "
        "writers' total stays near one writer's, but each commit takes microseconds, which "
        "keeps the wait short. diskcache's millisecond p99 with four writers presumably "
        "comes from waiting on SQLite's write lock (not profiled). Sets are fast because "
        "commits skip fsync (`MDB_NOSYNC`, safe against "
        "process crashes, not OS crashes) and write in place (`MDB_WRITEMAP`); both are "
        "explained in [file-backend.md](file-backend.md). Ours includes the pickle codec "
        "and the async call; diskcache stores the bytes as they are.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
