"""Redis Cluster: GET hits and SETs of 100-byte values at 1 and 100 concurrent tasks on one
event loop, side by side against the same three-primary cluster in one run.

Subjects: ours (the cluster backend beneath the Cachette facade); redis-py's asyncio
RedisCluster with hiredis; valkey-glide's GlideClusterClient; and ours against one standalone
primary on the same machine, to show what the spread costs or gains on this host.

Needs the test servers (the cluster, and the standalone Redis):

    CACHETTE_PORT_BASE=19000 bash scripts/with-services.sh \
        .venv/bin/python bench/bench_redis_cluster.py [--ops 20000] [--repeats 3] [--no-write]

`--faults` also runs the fault tests (tests/faults: reshard under load, a primary killed, a
Sentinel failover) and reports the timings they measure: how long after the promotion (or the
Sentinel switch) the client served again. Those tests assert correctness only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import machine, median, write_section

VALUE = b"v" * 100
KEYS = [f"bench:{i}" for i in range(1000)]
Op = Callable[[str], Awaitable[Any]]


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run through scripts/with-services.sh")
    return value


async def measure(op: Op, tasks: int, ops: int) -> float:
    """Runs `ops` operations spread over `tasks` tasks; returns ops/s."""
    per_task = ops // tasks

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await op(KEYS[(offset + i) % 1000])

    wall0 = time.perf_counter()
    await asyncio.gather(*(worker(t * 7) for t in range(tasks)))
    return per_task * tasks / (time.perf_counter() - wall0)


Subject = tuple[Op, Op, Callable[[], Awaitable[Any]]]


async def subjects(cluster_url: str, standalone_url: str) -> dict[str, Subject]:
    """name -> (get, set, close)."""
    from cachette.backends.redis import create
    from cachette.backends.redis_cluster import ClusterBackend
    from cachette.config import CachetteConfig

    out: dict[str, Subject] = {}
    ours = create(CachetteConfig(backend="redis", redis_url=cluster_url))
    assert isinstance(ours, ClusterBackend), ours

    def ours_set(k: str) -> Awaitable[None]:
        return ours.put(k, VALUE, 3_600_000)

    out["ours (cluster)"] = (ours.fetch, ours_set, ours.close)

    first = cluster_url.split("://", 1)[1].split(",")[0].split("/")[0]
    host, port = first.rsplit(":", 1)

    from redis.asyncio.cluster import RedisCluster

    rp = RedisCluster(host=host, port=int(port), max_connections=100)
    await rp.initialize()

    def rp_set(k: str) -> Awaitable[Any]:
        return rp.set(k, VALUE, px=3_600_000)

    out["redis-py RedisCluster + hiredis"] = (rp.get, rp_set, rp.aclose)

    try:
        from glide import GlideClusterClient, GlideClusterClientConfiguration, NodeAddress

        glide = await GlideClusterClient.create(
            GlideClusterClientConfiguration([NodeAddress(host, int(port))], request_timeout=5000)
        )

        def glide_set(k: str) -> Awaitable[Any]:
            return glide.set(k, VALUE)

        out["valkey-glide cluster"] = (glide.get, glide_set, glide.close)
    except Exception as e:  # reported, not hidden
        print(f"valkey-glide unavailable: {e}", file=sys.stderr)

    single = create(CachetteConfig(backend="redis", redis_url=standalone_url))

    def single_set(k: str) -> Awaitable[None]:
        return single.put(k, VALUE, 3_600_000)

    out["ours (one standalone primary)"] = (single.fetch, single_set, single.close)
    return out


async def run(ops: int, repeats: int) -> dict[tuple[str, str, int], float]:
    cluster_url = env("CACHETTE_TEST_REDIS_CLUSTER_URL")
    standalone_url = env("CACHETTE_TEST_REDIS_URL")
    found = await subjects(cluster_url, standalone_url)
    for get, put, _ in found.values():
        for start in range(0, len(KEYS), 100):  # redis-py caps connections per node at 100
            await asyncio.gather(*(put(k) for k in KEYS[start : start + 100]))
        assert await get(KEYS[0]) == VALUE
    results: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(repeats):
        for tasks in (1, 100):
            n = ops if tasks > 1 else max(ops // 4, 1000)
            for name, (get, put, _) in found.items():
                for label, op in (("GET", get), ("SET", put)):
                    results.setdefault((name, label, tasks), []).append(await measure(op, tasks, n))
    for _, _, close in found.values():
        await close()
    return {k: median(v) for k, v in results.items()}


def report(results: dict[tuple[str, str, int], float], repeats: int) -> str:
    names = list(dict.fromkeys(name for name, _, _ in results))
    lines = [
        "## Redis Cluster (three primaries, one replica each)",
        "",
        f"`bench/bench_redis_cluster.py` - {machine()}; ops/s, median of {repeats} repeats; "
        "100-byte values, 1000 keys. Ratios are ours (cluster) / peer.",
        "",
        "| subject | GET 1 task | SET 1 task | GET 100 tasks | SET 100 tasks |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        cells = [
            f"{results[(name, op, tasks)]:,.0f}"
            for tasks in (1, 100)
            for op in ("GET", "SET")
            if (name, op, tasks) in results
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    ours = "ours (cluster)"
    for peer in names:
        if peer == ours:
            continue
        ratios = [
            f"{op} {tasks}: {results[(ours, op, tasks)] / results[(peer, op, tasks)]:.2f}x"
            for tasks in (1, 100)
            for op in ("GET", "SET")
            if (peer, op, tasks) in results
        ]
        lines.append(f"- ours (cluster) / {peer}: " + ", ".join(ratios))
    return "\n".join(lines) + "\n"


def fault_timings() -> str:
    """Runs tests/faults and keeps the lines in which they report their timings."""
    import subprocess

    root = pathlib.Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/faults"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    lines = [
        "- " + line.strip()
        for line in done.stdout.splitlines()
        if "under 100 tasks" in line and "ops" in line
    ]
    status = "passed" if done.returncode == 0 else f"FAILED (exit {done.returncode})"
    return "\n".join(["", f"Faults under load (tests/faults, {status}):", "", *lines]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--faults", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(run(args.ops, args.repeats))
    text = report(results, args.repeats)
    if args.faults:
        text += fault_timings()
    print(text)
    if not args.no_write:
        write_section("redis-cluster", text)


if __name__ == "__main__":
    main()
