"""In-memory hit and put, ours against the plain dict peer only (1 KiB str values, awaited
through an async def): the issue's yardstick, quick enough to run old and new builds
side by side:

    .venv/bin/python bench/bench_memory_hit.py [--repeats 5]
    .venv/bin/python bench/_run_other_build.py OLD/python bench/bench_memory_hit.py

Prints one line: median ns per operation and the ratios ours / plain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_memory import PlainDictStore

VALUE = "v" * 1024


async def per_op(op: Callable[..., Awaitable[Any]], keys: list[str], *args: Any) -> float:
    start = time.perf_counter()
    for k in keys:
        await op(k, *args)
    return (time.perf_counter() - start) / len(keys)


async def main(repeats: int) -> dict[str, float]:
    from cachette import Cachette

    Cachette.load_config(lambda: [("max_memory", "1GiB")])
    ours, plain = Cachette(), PlainDictStore()
    keys = [f"key:{i}" for i in range(10_000)] * 20
    for k in keys[:10_000]:
        await ours.put(k, VALUE)
        await plain.put(k, VALUE)
    assert await ours.fetch(keys[0]) == VALUE
    samples: dict[str, list[float]] = {
        "ours_fetch": [],
        "plain_fetch": [],
        "ours_put": [],
        "plain_put": [],
    }
    for _ in range(repeats):  # interleaved: noise hits both alike
        samples["ours_fetch"].append(await per_op(ours.fetch, keys))
        samples["plain_fetch"].append(await per_op(plain.fetch, keys))
        samples["ours_put"].append(await per_op(ours.put, keys, VALUE))
        samples["plain_put"].append(await per_op(plain.put, keys, VALUE))
    ns = {k: sorted(v)[len(v) // 2] * 1e9 for k, v in samples.items()}
    return {
        **{f"{k}_ns": round(v) for k, v in ns.items()},
        "fetch_ratio": round(ns["ours_fetch"] / ns["plain_fetch"], 2),
        "put_ratio": round(ns["ours_put"] / ns["plain_put"], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    print(json.dumps(asyncio.run(main(parser.parse_args().repeats))))
