"""In-memory backend: fetch-hit and put through the public async API, 1 KiB str values.

Side by side in one run:
  ours      cachette (C++ sharded SIEVE store) via `await Cachette().fetch/put`
  dict      a pure-Python store as the 0.1.x in-memory backend is described: a dict of
            key -> pydantic model holding the bytes and an expiry, one model built per put
  plain     the floor of a Python cache: a dict of key -> (value, expiry), an expiry check on
            each hit, behind an `async def` (no model, no encoding)
  aiocache  aiocache.SimpleMemoryCache
  cashews   cashews with the mem:// backend
Also RSS growth per entry for 1M entries, ours vs dict, each in a fresh subprocess.

Run: .venv/bin/python bench/bench_memory.py [--repeats 5] [--ops 200000] [--entries 1000000]
     [--value-bytes 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import timeit
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _report import ROOT, machine, median, write_section

VALUE = "v" * 1024  # the yardstick: 1 KiB str values (--value-bytes)


class _Entry(BaseModel):
    data: bytes
    expires: int


class DictStore:
    """A pure-Python in-memory cache with the 0.1.x backend's shape (written for this bench)."""

    def __init__(self, ttl: int = 60) -> None:
        self.entries: dict[str, _Entry] = {}
        self.ttl = ttl

    async def fetch(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry.expires < int(time.time()):
            del self.entries[key]
            return None
        return entry.data.decode()

    async def put(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.entries[key] = _Entry(
            data=str(value).encode(), expires=int(time.time()) + (ttl or self.ttl)
        )


class PlainDictStore:
    """The least a Python cache with expiry does: no model, no encoding (written for this bench)."""

    def __init__(self, ttl: int = 60) -> None:
        self.entries: dict[str, tuple[Any, float]] = {}
        self.ttl = ttl

    async def fetch(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            del self.entries[key]
            return None
        return entry[0]

    async def put(self, key: str, value: Any, ttl: int | None = None) -> None:
        self.entries[key] = (value, time.monotonic() + (ttl or self.ttl))


def make_subjects() -> dict[str, tuple[Any, Any]]:
    """name -> (fetch coroutine function, put coroutine function)."""
    from cachette import Cachette

    Cachette.load_config(lambda: [("max_memory", "1GiB")])

    # A handler receives one Cachette per request and awaits its methods, as here.
    ours = Cachette()
    d = DictStore()
    plain = PlainDictStore()
    subjects: dict[str, tuple[Any, Any]] = {
        "ours": (ours.fetch, ours.put),
        "dict": (d.fetch, d.put),
        "plain": (plain.fetch, plain.put),
    }
    try:
        from aiocache import SimpleMemoryCache

        ac = SimpleMemoryCache()

        async def ac_put(key: str, value: Any) -> None:
            await ac.set(key, value, ttl=60)

        subjects["aiocache"] = (ac.get, ac_put)
    except ImportError:
        print("aiocache not installed: pip install '.[bench]'", file=sys.stderr)
    try:
        from cashews import Cache

        cc = Cache()
        cc.setup("mem://?size=1000000")  # its default keeps only 1,000 keys

        async def cc_put(key: str, value: Any) -> None:
            await cc.set(key, value, expire=60)

        subjects["cashews"] = (cc.get, cc_put)
    except ImportError:
        print("cashews not installed: pip install '.[bench]'", file=sys.stderr)
    return subjects


async def time_ops(fn: Any, keys: list[str], value: Any | None) -> float:
    """Seconds per operation over `keys`, awaited one after another as a handler would."""
    start = time.perf_counter()
    if value is None:
        for k in keys:
            await fn(k)
    else:
        for k in keys:
            await fn(k, value)
    return (time.perf_counter() - start) / len(keys)


async def throughput(repeats: int, ops: int, value: str) -> dict[str, dict[str, float]]:
    subjects = make_subjects()
    keys = [f"key:{i}" for i in range(10_000)]
    sequence = [keys[i % len(keys)] for i in range(ops)]
    samples: dict[str, dict[str, list[float]]] = {n: {"fetch": [], "put": []} for n in subjects}
    for _ in range(repeats):
        for name, (fetch, put) in subjects.items():  # interleaved: noise hits all alike
            samples[name]["put"].append(await time_ops(put, sequence, value))
            assert await fetch(keys[0]) == value, name
            samples[name]["fetch"].append(await time_ops(fetch, sequence, None))
    return {n: {op: median(v) for op, v in s.items()} for n, s in samples.items()}


RSS_CHILD = r"""
import asyncio, gc, sys
sys.path.insert(0, {bench!r})
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
async def main(kind, n):
    value = 'v' * 100
    keys = [f'key:{{i}}' for i in range(n)]
    if kind == 'ours':
        from cachette import Cachette
        Cachette.load_config(lambda: [('max_memory', '1GiB')])
        c = Cachette(); await c.put('warm', value)
        put = c.put
    else:
        from bench_memory import DictStore
        d = DictStore(); await d.put('warm', value)
        put = d.put
    gc.collect(); before = rss()
    for k in keys:
        await put(k, value)
    gc.collect(); print(rss() - before)
asyncio.run(main({kind!r}, {n}))
"""


def rss_per_entry(kind: str, n: int) -> float:
    code = RSS_CHILD.format(bench=str(ROOT / "bench"), kind=kind, n=n)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    # The key strings themselves are built before measuring, so both sides count only storage.
    return int(out.stdout.strip()) / n


def chart(results: dict[str, dict[str, float]], path: Any, value_bytes: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(results)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.38
    xs = range(len(names))
    ax.bar(
        [x - width / 2 for x in xs],
        [1 / results[n]["fetch"] / 1e3 for n in names],
        width,
        label="fetch hit",
    )
    ax.bar(
        [x + width / 2 for x in xs],
        [1 / results[n]["put"] / 1e3 for n in names],
        width,
        label="put",
    )
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("k ops/s (one task)")
    ax.set_title(f"In-memory cache through the async API, {value_bytes}-byte values")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=len(VALUE))
    args = parser.parse_args()

    results = asyncio.run(throughput(args.repeats, args.ops, "v" * args.value_bytes))
    from cachette import Cachette

    construct = median(
        [timeit.timeit(Cachette, number=200_000) / 200_000 for _ in range(args.repeats)]
    )
    rss = {
        kind: median([rss_per_entry(kind, args.entries) for _ in range(3)])
        for kind in ("ours", "dict")
    }
    print(json.dumps({"seconds_per_op": results, "rss_bytes_per_entry": rss}, indent=2))

    ours = results["ours"]
    lines = [
        "## In-memory backend",
        "",
        f"`bench/bench_memory.py` ({machine()}, {args.repeats} interleaved repeats of {args.ops:,} "
        f"sequential awaits each, {args.value_bytes}-byte str values, medians). Time per "
        "operation through the public async API; "
        "ratio = ours ÷ peer time (below 1.0 means we are faster).",
        "",
        "| store | fetch hit (µs) | put (µs) | fetch ratio | put ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['fetch'] * 1e6:.2f} | {r['put'] * 1e6:.2f} | "
            f"{ours['fetch'] / r['fetch']:.2f} | {ours['put'] / r['put']:.2f} |"
        )
    lines += [
        "",
        f"Memory: RSS growth per entry for {args.entries:,} entries (100-byte values, keys "
        f"`key:N`, median of 3 fresh processes): ours {rss['ours']:.0f} B, dict store "
        f"{rss['dict']:.0f} B, ratio {rss['ours'] / rss['dict']:.2f}.",
        "",
        f"Building `Cachette()`: {construct * 1e9:.0f} ns. That is not what FastAPI's "
        "`Depends()` costs per request: FastAPI runs a class dependency in its threadpool, "
        "and the thread hop (about 100 µs here) is the cost; see the HTTP section.",
    ]
    png = ROOT / "docs" / "bench_memory.png"
    if chart(results, png, args.value_bytes):
        lines += ["", "![in-memory benchmark](bench_memory.png)"]
    write_section("memory", "\n".join(lines))


if __name__ == "__main__":
    main()
