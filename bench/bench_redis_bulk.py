"""Bulk reads on Redis: keys per second fetched 100 at a time, side by side on one private
server in one run.

Subjects: ``Cachette.fetch_many`` (100 keys per call); redis-py asyncio (hiredis) ``MGET``
of the same 100 keys and a pipeline of 100 GETs; and ``redis-benchmark -P 16`` GET (C, 16
commands in flight per connection) as the physical ceiling. Each Python subject runs
``TASKS`` concurrent tasks on one event loop. Subjects interleave within each repeat;
medians of repeats; ratios of ours to each peer.

    .venv/bin/python bench/bench_redis_bulk.py [--batches 2000] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import machine, median, write_section
from bench_redis import private_server

VALUE = b"v" * 100
KEYSPACE = 10_000
BATCH = 100
TASKS = 4
Batch = Callable[[list[str]], Awaitable[Any]]


def key(i: int) -> str:
    return f"key:{i:012d}"  # redis-benchmark's key names with -r


async def measure(op: Batch, batches: int) -> float:
    """Keys per second over ``batches`` calls of ``BATCH`` keys, spread over TASKS tasks."""
    per_task = batches // TASKS

    async def worker(offset: int) -> None:
        for n in range(per_task):
            start = (offset * 7919 + n * BATCH) % (KEYSPACE - BATCH)
            got = await op([key(i) for i in range(start, start + BATCH)])
            assert len(got) == BATCH and got[0] is not None, got[:2]

    began = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(TASKS)))
    return per_task * TASKS * BATCH / (time.perf_counter() - began)


def redis_benchmark(port: int, ops: int, clients: int) -> float:
    tool = shutil.which("redis-benchmark")
    assert tool, "redis-benchmark is missing: run scripts/bootstrap.sh"
    out = subprocess.run(
        [
            tool,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            str(clients),
            "-P",
            "16",
            "-n",
            str(ops),
            "-t",
            "get",
            "-d",
            "100",
            "-r",
            str(KEYSPACE),
            "--csv",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = out.splitlines()[1]  # "GET","<requests per second>",...
    return float(line.split(",")[1].strip('"'))


async def subjects(port: int) -> dict[str, Batch]:
    from redis import asyncio as aioredis

    from cachette import Cachette

    Cachette.load_config(
        lambda: [("backend", "redis"), ("redis_url", f"redis://127.0.0.1:{port}/0")]
    )
    client = aioredis.Redis(host="127.0.0.1", port=port, max_connections=TASKS)
    await client.mset({key(i): VALUE for i in range(KEYSPACE)})
    cache = Cachette()

    async def pipeline(keys: list[str]) -> Any:
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        return await pipe.execute()

    # the codec is the default (vanilla): ours decodes bytes to str, as fetch does
    return {
        "ours_fetch_many": cache.fetch_many,
        "redis_py_mget": client.mget,
        "redis_py_pipeline": pipeline,
    }


async def run(port: int, batches: int, repeats: int) -> dict[str, list[float]]:
    subs = await subjects(port)
    tools = ["redis_benchmark_P16", "redis_benchmark_P16_c50"]
    results: dict[str, list[float]] = {name: [] for name in [*subs, *tools]}
    for op in subs.values():
        await measure(op, 40)  # warm-up: connections open, code paths warm
    for repeat in range(repeats):
        for name, op in subs.items():
            results[name].append(await measure(op, batches))
        ops = max(batches * BATCH, 2_000_000)  # long enough to be timed to the percent
        results["redis_benchmark_P16"].append(redis_benchmark(port, ops, clients=TASKS))
        results["redis_benchmark_P16_c50"].append(redis_benchmark(port, ops, clients=50))
        print(
            f"repeat {repeat + 1}: "
            + "  ".join(f"{n} {v[-1]:,.0f} keys/s" for n, v in results.items()),
            flush=True,
        )
    return results


def report(results: dict[str, list[float]]) -> str:
    ours = median(results["ours_fetch_many"])
    lines = [
        "## Redis bulk reads (`fetch_many`)",
        "",
        f"Machine: {machine()}; one private redis-server, {TASKS} concurrent tasks (as many",
        f"connections for redis-benchmark, and its default 50 too), {BATCH} keys of 100 bytes",
        "per call. Medians of the repeats.",
        "Reproduce: `.venv/bin/python bench/bench_redis_bulk.py`.",
        "",
        "| subject | keys/s | ours ÷ subject |",
        "|---|---:|---:|",
    ]
    labels = {
        "ours_fetch_many": "Cachette.fetch_many (100 keys)",
        "redis_py_mget": "redis-py asyncio + hiredis, MGET of 100 keys",
        "redis_py_pipeline": "redis-py asyncio + hiredis, pipeline of 100 GETs",
        "redis_benchmark_P16": f"redis-benchmark -P 16 -c {TASKS} GET (C)",
        "redis_benchmark_P16_c50": "redis-benchmark -P 16 -c 50 GET (C)",
    }
    for name, label in labels.items():
        value = median(results[name])
        lines.append(f"| {label} | {value:,.0f} | {ours / value:.2f} |")
    lines += [
        "",
        "Targets of issue 13: ≥ 0.5x redis-benchmark -P 16 and ≥ 3x redis-py's MGET and",
        "pipeline. `Cachette.fetch_many` is the engine's `get_many`: one MGET per call on",
        "the I/O thread, and concurrent calls pipelined on one connection.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with private_server("redis-server") as port:
        results = asyncio.run(run(port, args.batches, args.repeats))
    body = report(results)
    print(body)
    if not args.no_write:
        write_section("redis-bulk", body)


if __name__ == "__main__":
    main()
