"""Ours only: fetch hits and puts through the public facade, for comparing two builds of
cachette side by side (old commit vs new), with no peer libraries needed.

    .venv/bin/python bench/bench_facade_hot_path.py BACKEND SETTING [--ops 20000] [--repeats 5]

BACKEND is inmemory, redis, valkey or memcached; SETTING the URL/host ("" for inmemory).
Prints one JSON line: median microseconds per operation, sequential (1 task) and with 100
concurrent tasks (time per operation = wall time / operations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from cachette import Cachette

VALUE = "v" * 100


async def sequential(op: object, keys: list[str], put: bool) -> float:
    start = time.perf_counter()
    for k in keys:
        await (op(k, VALUE) if put else op(k))  # type: ignore[operator]
    return (time.perf_counter() - start) / len(keys)


async def concurrent(op: object, keys: list[str], put: bool, tasks: int = 100) -> float:
    async def worker(part: list[str]) -> None:
        for k in part:
            await (op(k, VALUE) if put else op(k))  # type: ignore[operator]

    start = time.perf_counter()
    await asyncio.gather(*(worker(keys[i::tasks]) for i in range(tasks)))
    return (time.perf_counter() - start) / len(keys)


async def main(backend: str, setting: str, ops: int, repeats: int) -> dict[str, float]:
    key_name = {"redis": "redis_url", "valkey": "valkey_url", "memcached": "memcached_host"}
    pairs: list[tuple[str, object]] = [("backend", backend)]
    if backend in key_name:
        pairs.append((key_name[backend], setting))
    Cachette.load_config(lambda: pairs)
    cache = Cachette()
    keys = [f"bench:hot:{i % 1000}" for i in range(ops)]
    samples: dict[str, list[float]] = {k: [] for k in ("put_1", "fetch_1", "put_100", "fetch_100")}
    for _ in range(repeats):
        samples["put_1"].append(await sequential(cache.put, keys, True))
        samples["fetch_1"].append(await sequential(cache.fetch, keys, False))
        samples["put_100"].append(await concurrent(cache.put, keys, True))
        samples["fetch_100"].append(await concurrent(cache.fetch, keys, False))
    assert await cache.fetch(keys[0]) == VALUE
    return {k: round(sorted(v)[len(v) // 2] * 1e6, 3) for k, v in samples.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("backend")
    parser.add_argument("setting")
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    a = parser.parse_args()
    print(json.dumps(asyncio.run(main(a.backend, a.setting, a.ops, a.repeats))))
