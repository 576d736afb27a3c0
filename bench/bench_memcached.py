"""memcached: GET hits and SETs of 100-byte values at 1 and 100 concurrent tasks.

Side by side in one run, against one private memcached started by this script:
  ours        cachette's C++ client through the public API: `await Cachette().fetch/put`
              (vanilla codec, 100-character str values)
  ours-raw    the same client one layer down: `await backend.fetch/put` with bytes
  aiomcache   aiomcache.Client (asyncio, pure Python), pool_size 2 like ours
  emcache     emcache.Client (asyncio, Cython parser), when installed; up to 100 connections
  pymemcache  pymemcache.Client, one client and one OS thread per task (it is synchronous);
              default_noreply=False, so a set waits for its reply like every other client

Each scenario runs a fixed number of operations; reported: ops/s, per-operation latency p50/p99
(as the caller sees it), and CPU time of the Python threads per operation (time.thread_time of
the event-loop thread, or summed over pymemcache's threads). Medians over --repeats runs.

Run: .venv/bin/python bench/bench_memcached.py [--repeats 3] [--ops 20000] [--port 17342]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _report import machine, median, write_section

VALUE = b"v" * 100
TEXT = "v" * 100
KEYS = [f"bench:{i}" for i in range(1000)]


class Sample:
    def __init__(self, ops: int, wall: float, cpu: float, latencies: list[int]) -> None:
        latencies.sort()
        self.ops_per_s = ops / wall
        self.cpu_us = cpu / ops * 1e6
        self.p50_us = latencies[len(latencies) // 2] / 1000
        self.p99_us = latencies[int(len(latencies) * 0.99)] / 1000


async def run_async(op: Callable[[str], Awaitable[Any]], tasks: int, ops: int) -> Sample:
    per_task = ops // tasks
    latencies: list[int] = []
    clock = time.perf_counter_ns

    async def worker(offset: int) -> None:
        record = latencies.append
        for i in range(per_task):
            key = KEYS[(offset + i) % len(KEYS)]
            start = clock()
            await op(key)
            record(clock() - start)

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker(t * 7) for t in range(tasks)))
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    return Sample(per_task * tasks, wall, cpu, latencies)


def run_threads(make_op: Callable[[], Callable[[str], Any]], tasks: int, ops: int) -> Sample:
    per_task = ops // tasks
    latencies: list[int] = []
    cpu: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(tasks + 1)
    clock = time.perf_counter_ns

    def worker(offset: int) -> None:
        op = make_op()
        mine: list[int] = []
        ready.wait()
        cpu0 = time.thread_time()
        for i in range(per_task):
            key = KEYS[(offset + i) % len(KEYS)]
            start = clock()
            op(key)
            mine.append(clock() - start)
        used = time.thread_time() - cpu0
        with lock:
            latencies.extend(mine)
            cpu.append(used)

    threads = [threading.Thread(target=worker, args=(t * 7,)) for t in range(tasks)]
    for t in threads:
        t.start()
    ready.wait()
    wall0 = time.perf_counter()
    for t in threads:
        t.join()
    return Sample(per_task * tasks, time.perf_counter() - wall0, sum(cpu), latencies)


async def async_clients(port: int) -> dict[str, tuple[Callable[..., Any], Callable[..., Any]]]:
    """name -> (get(key), set(key)) coroutine functions, all warmed up."""
    from cachette import Cachette

    Cachette.load_config(
        lambda: [("backend", "memcached"), ("memcached_host", f"127.0.0.1:{port}"), ("ttl", 3600)]
    )
    cache = Cachette()
    from cachette.core import _runtime

    raw = _runtime.start()
    import aiomcache

    aio = aiomcache.Client("127.0.0.1", port, pool_size=2)
    clients: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "ours": (cache.fetch, lambda k: cache.put(k, TEXT)),
        "ours-raw": (raw.fetch, lambda k: raw.put(k, VALUE, 3_600_000)),
        "aiomcache": (
            lambda k: aio.get(k.encode()),
            lambda k: aio.set(k.encode(), VALUE, exptime=3600),
        ),
    }
    try:
        import emcache

        # Its defaults (1 s timeout, 2 connections) time out under 100 tasks on a small
        # machine; give it a pool as large as the task count instead.
        em = await emcache.create_client(
            [emcache.MemcachedHostAddress("127.0.0.1", port)],
            timeout=10.0,
            max_connections=100,
            min_connections=2,
        )
        clients["emcache"] = (
            lambda k: em.get(k.encode()),
            lambda k: em.set(k.encode(), VALUE, exptime=3600),
        )
    except ImportError:
        print("emcache is not installed: skipped", file=sys.stderr)
    for get, put in clients.values():
        for k in KEYS:
            await put(k)
        assert await get(KEYS[0]) is not None
    return clients


def pymemcache_ops(port: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from pymemcache.client.base import Client

    def make_get() -> Callable[[str], Any]:
        c = Client(("127.0.0.1", port), default_noreply=False)
        return c.get

    def make_set() -> Callable[[str], Any]:
        c = Client(("127.0.0.1", port), default_noreply=False)
        return lambda k: c.set(k, VALUE, expire=3600)

    return make_get, make_set


def start_server(port: int) -> subprocess.Popen[bytes]:
    binary = os.environ.get("CACHETTE_TEST_MEMCACHED_SERVER") or shutil.which("memcached")
    if not binary:
        sys.exit("memcached not found (apt-get install memcached)")
    user = ["-u", "root"] if os.geteuid() == 0 else []
    server = subprocess.Popen(
        [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "256", "-c", "4096", *user]
    )
    import socket

    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server
        except OSError:
            time.sleep(0.02)
    server.kill()
    sys.exit(f"memcached did not start on port {port}")


async def measure(port: int, repeats: int, ops: int) -> dict[tuple[str, str, int], list[Sample]]:
    results: dict[tuple[str, str, int], list[Sample]] = {}
    clients = await async_clients(port)
    make_get, make_set = pymemcache_ops(port)
    loop = asyncio.get_running_loop()
    for _ in range(repeats):
        for tasks in (1, 100):
            n = ops if tasks == 1 else ops * 5
            for name, (get, put) in clients.items():
                for kind, op in (("get", get), ("set", put)):
                    sample = await run_async(op, tasks, n)
                    results.setdefault((name, kind, tasks), []).append(sample)
            for kind, make in (("get", make_get), ("set", make_set)):
                sample = await loop.run_in_executor(None, run_threads, make, tasks, n)
                results.setdefault(("pymemcache", kind, tasks), []).append(sample)
    return results


def report(results: dict[tuple[str, str, int], list[Sample]], repeats: int, ops: int) -> str:
    def med(key: tuple[str, str, int], attr: str) -> float:
        return median([getattr(s, attr) for s in results[key]])

    names = sorted({k[0] for k in results}, key=lambda n: (not n.startswith("ours"), n))
    lines = [
        "## Memcached",
        "",
        f"`bench/bench_memcached.py --repeats {repeats} --ops {ops}` - {machine()}, one private "
        "memcached 1.6 on 127.0.0.1, 100-byte values, keys cycling over 1000 hits. Medians of "
        f"{repeats} runs; {ops} operations at 1 task, {ops * 5} at 100 tasks (asyncio tasks on "
        "one default event loop; pymemcache: OS threads, one client each). CPU is the Python "
        "threads' time per operation (time.thread_time). ours = public `Cachette` API with the "
        "vanilla codec; ours-raw = the backend's bytes API underneath.",
        "",
        "| client | op | tasks | ops/s | p50 µs | p99 µs | Python CPU µs/op | ours ÷ client |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tasks in (1, 100):
        for kind in ("get", "set"):
            ours = med(("ours", kind, tasks), "ops_per_s")
            for name in names:
                key = (name, kind, tasks)
                if key not in results:
                    continue
                rate = med(key, "ops_per_s")
                ratio = "" if name == "ours" else f"{ours / rate:.2f}x"
                lines.append(
                    f"| {name} | {kind} | {tasks} | {rate:,.0f} | {med(key, 'p50_us'):.0f} | "
                    f"{med(key, 'p99_us'):.0f} | {med(key, 'cpu_us'):.1f} | {ratio} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ops", type=int, default=20000)
    default_port = int(os.environ.get("CACHETTE_TEST_MEMCACHED_BENCH_PORT", "17342"))
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--no-write", action="store_true", help="print only; leave the docs")
    args = parser.parse_args()
    server = start_server(args.port)
    try:
        results = asyncio.run(measure(args.port, args.repeats, args.ops))
    finally:
        server.terminate()
        server.wait()
    text = report(results, args.repeats, args.ops)
    print(text)
    if not args.no_write:
        write_section("memcached", text)
    spread = {k: statistics.pstdev([s.ops_per_s for s in v]) for k, v in results.items()}
    worst = max(spread, key=lambda k: spread[k] / median([s.ops_per_s for s in results[k]]))
    print(f"largest run-to-run spread: {worst}", file=sys.stderr)


if __name__ == "__main__":
    main()
