"""Ours only: one large value (1 MB by default) fetched from Redis through the facade, for
comparing two builds side by side (old commit vs new; see bench/_run_other_build.py).

    .venv/bin/python bench/bench_redis_large.py REDIS_URL [--size 1048576] [--ops 200] [--repeats 5]

Prints one JSON line: median microseconds per sequential fetch through the facade (pickle
codec: bytes in, equal bytes out), per fetch of the backend alone (the engine's bytes, no
codec) with the CPU time it takes in this process (all threads: less noisy than wall time on
a shared machine), and per put for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time

from cachette import Cachette


async def main(url: str, size: int, ops: int, repeats: int) -> dict[str, float]:
    Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", url), ("codec", "pickle")])
    cache = Cachette()
    value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    fetch_s: list[float] = []
    raw_s: list[float] = []
    raw_cpu: list[float] = []
    faults: list[float] = []
    put_s: list[float] = []
    await cache.put("bench:large", value)
    backend = Cachette.__dict__["fetch"].__globals__["_runtime"].start()  # the engine's client
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(ops // 10):
            await cache.put("bench:large", value)
        put_s.append((time.perf_counter() - start) / (ops // 10))
        start = time.perf_counter()
        for _ in range(ops):
            got = await cache.fetch("bench:large")
        fetch_s.append((time.perf_counter() - start) / ops)
        assert got == value
        minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(ops):
            await backend.fetch("bench:large")
        raw_s.append((time.perf_counter() - start) / ops)
        raw_cpu.append((time.process_time() - cpu) / ops)
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - minflt) / ops / 1e6)
    med = lambda v: sorted(v)[len(v) // 2] * 1e6  # noqa: E731
    return {
        "size": size,
        "fetch_us": round(med(fetch_s), 1),
        "backend_fetch_us": round(med(raw_s), 1),
        "backend_fetch_cpu_us": round(med(raw_cpu), 1),  # both threads of this process
        "backend_fetch_page_faults": round(med(faults)),
        "put_us": round(med(put_s), 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--size", type=int, default=1 << 20)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    a = parser.parse_args()
    print(json.dumps(asyncio.run(main(a.url, a.size, a.ops, a.repeats))))
