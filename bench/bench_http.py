"""End to end through HTTP: wrk against uvicorn apps on 127.0.0.1, every subject in one run.

Throughput: one uvicorn worker per subject (bench/http_apps.py), ``wrk -t1 -c64`` on
``GET /k`` (1 KiB body), subjects interleaved within each repeat, each right after a run of
the plain endpoint; medians of repeats of req/s and of the ratio to that neighbouring plain
run (the machine's load drifts; neighbours share it). Subjects: the plain endpoint; an empty class
``Depends()``; ours through ``CachetteDep`` (the recommended path), through ``Depends()``
(0.1.x), through ``Depends()`` with the provider installed as a dependency override, and
built in the handler; ours on Redis both ways; cashews and fastapi-cache2 caching the
response on Redis.

Stampede: four uvicorn workers on one Redis, 200 concurrent requests (connections opened
first) for one cold key whose handler takes 100 ms: how many times the handler ran and when
the last response arrived, per subject and repeat.

    .venv/bin/python bench/bench_http.py [--seconds 3] [--repeats 5] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import machine, median, write_section
from bench_redis import private_server

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = pathlib.Path(sys.executable).parent

THROUGHPUT = [
    ("plain", "plain endpoint, no cache"),
    ("empty_depends", "plain endpoint + an empty class `Depends()`"),
    ("plain_yield", "plain endpoint + `await asyncio.sleep(0)` (control: suspending once)"),
    ("inhandler_memory", "in-memory fetch, `Cachette(request)` in the handler (recommended)"),
    ("dep_memory", "in-memory fetch, `cachette: CachetteDep` (async provider)"),
    ("depends_memory", "in-memory fetch, `cachette: Cachette = Depends()` (0.1.x)"),
    ("override_memory", "in-memory fetch, `Depends()` + `dependency_overrides[Cachette]`"),
    ("inhandler_redis", "Redis fetch, `Cachette(request)` in the handler (recommended)"),
    (
        "inhandler_redis+gcfreeze",
        "Redis fetch, `Cachette(request)` in the handler, app calls `gc.freeze()` (recommended)",
    ),
    ("redispy_redis", "Redis GET with redis-py asyncio + hiredis, no cache library (control)"),
    (
        "redispy_redis+gcfreeze",
        "Redis GET with redis-py asyncio + hiredis, no cache library, app calls `gc.freeze()`",
    ),
    ("dep_redis", "Redis fetch, `cachette: CachetteDep`"),
    ("depends_redis", "Redis fetch, `cachette: Cachette = Depends()` (0.1.x)"),
    ("cashews_redis", "cashews `@cache(ttl=60)` on Redis (response cached)"),
    ("cashews_redis+gcfreeze", "cashews `@cache(ttl=60)` on Redis, app calls `gc.freeze()`"),
    ("fastapi_cache2_redis", "fastapi-cache2 `@cache(expire=60)` on Redis (response cached)"),
    ("litestar_plain", "Litestar: plain endpoint, no cache"),
    ("litestar_provide_memory", "Litestar: in-memory fetch, `cachette.asgi.litestar.provide`"),
    ("litestar_inhandler_memory", "Litestar: in-memory fetch, `Cachette(request)` in the handler"),
    ("blacksheep_plain", "BlackSheep: plain endpoint, no cache"),
    ("blacksheep_scoped_memory", "BlackSheep: in-memory fetch, `add_scoped(Cachette)`"),
]
# Each subject's ratio is to the plain endpoint of its own framework.
BASELINE = {"litestar": "litestar_plain", "blacksheep": "blacksheep_plain"}


def baseline(name: str) -> str:
    return BASELINE.get(name.split("_", 1)[0], "plain")


STAMPEDE = [
    ("stampede_ours_redis", "ours: `get_or_set` (in-process coalescing + Redis lock)"),
    ("stampede_ours_nolock_redis", "ours: `get_or_set(..., lock=False)` (in-process only)"),
    ("stampede_ours_plain_redis", "ours: fetch, miss, compute, put (0.1.x pattern)"),
    ("stampede_cashews_redis", "cashews `@cache(ttl=60)`"),
    ("stampede_cashews_lock_redis", "cashews `@cache(ttl=60, lock=True)`"),
    ("stampede_fastapi_cache2_redis", "fastapi-cache2 `@cache(expire=60)`"),
]


def port_for(index: int) -> int:
    base = int(os.environ.get("CACHETTE_PORT_BASE", "18400"))
    return base + 60 + index


@contextlib.contextmanager
def uvicorn(subject: str, port: int, env: dict[str, str], workers: int = 1) -> Iterator[int]:
    """Serves one subject; yields the server's pid (with one worker, the serving process)."""
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "uvicorn"),
            "http_apps:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=HERE,
        env={**os.environ, **env, "BENCH_APP": subject},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"uvicorn for {subject} exited with {proc.returncode}")
            try:
                answer = http_get(port, "/k" if not subject.startswith("stampede") else "/docs")
                if answer.startswith(("HTTP/1.1 200", "HTTP/1.1 404")):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"uvicorn for {subject} did not answer")
            time.sleep(0.2)
        if workers > 1:
            time.sleep(3)  # every worker up and listening, not only the first
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def http_get(port: int, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, seconds: int) -> tuple[float, int]:
    """(requests per second, requests completed)."""
    out = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", "--timeout", "10s", f"http://127.0.0.1:{port}/k"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw error responses on port {port}:\n{out}")
    if "Socket errors" in out:  # a stalled machine: the run counts, slow, and says so
        print(f"warning: wrk saw socket errors on port {port}: {out.splitlines()[-3]}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    done = re.search(r"(\d+) requests in", out)
    assert done, out
    return float(match.group(1)), int(done.group(1))


def measure(pid: int, port: int, seconds: int) -> tuple[float, float]:
    """(requests per second, server CPU µs per request) of one wrk run."""
    before = cpu_seconds(pid)
    rps, requests = wrk(port, seconds)
    return rps, (cpu_seconds(pid) - before) / requests * 1e6


Series = dict[str, list[float]]


def run_throughput(
    redis_url: str, seconds: int, repeats: int, subjects: list[tuple[str, str]] = THROUGHPUT
) -> dict[str, Series]:
    """req/s, its ratio to the neighbouring plain run, server CPU µs per request, and the
    capacity ratio (plain's CPU per request ÷ the subject's), per subject and repeat."""
    names = [name for name, _ in subjects]
    out: dict[str, Series] = {k: {n: [] for n in names} for k in ("rps", "ratio", "cpu", "cap")}
    env = {"BENCH_REDIS_URL": redis_url}
    pids: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        for index, (name, _) in enumerate(subjects):
            pids[name] = stack.enter_context(uvicorn(name, port_for(index), env))
        for index in range(len(subjects)):
            wrk(port_for(index), 1)  # warm-up: fills the caches, warms the interpreter
        # The machine is shared and its load drifts: each subject runs right after a run of
        # the plain endpoint, and its ratio is taken to that neighbour.
        ports = {name: port_for(index) for index, (name, _) in enumerate(subjects)}
        for repeat in range(repeats):
            for name, _ in subjects:
                base = baseline(name)
                plain, plain_cpu = measure(pids[base], ports[base], seconds)
                rps, cpu = (
                    (plain, plain_cpu)
                    if name == base
                    else measure(pids[name], ports[name], seconds)
                )
                out["rps"][name].append(rps)
                out["ratio"][name].append(rps / plain)
                out["cpu"][name].append(cpu)
                out["cap"][name].append(plain_cpu / cpu)
                print(
                    f"repeat {repeat + 1} {name:26s} {rps:8.0f} req/s {rps / plain:5.2f}x"
                    f"  {cpu:6.1f} µs CPU/req {plain_cpu / cpu:5.2f}x",
                    flush=True,
                )
    return out


async def burst(port: int, path: str, concurrency: int) -> list[float]:
    """Opens ``concurrency`` connections, then sends one request on each at once; returns
    each response's arrival time in seconds after the requests were sent."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    request = f"GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"stampede request failed: {head[:200]!r}")
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        return time.perf_counter() - start

    start = time.perf_counter()
    times = await asyncio.gather(*(one(r, w) for r, w in conns))
    for _, writer in conns:
        writer.close()
    return list(times)


def run_stampede(redis_url: str, repeats: int) -> dict[str, list[tuple[int, float]]]:
    results: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in STAMPEDE}
    runs_file = pathlib.Path(tempfile.mkdtemp(prefix="cachette-stampede-")) / "runs"
    env = {"BENCH_REDIS_URL": redis_url, "BENCH_RUNS": str(runs_file)}
    with contextlib.ExitStack() as stack:
        for index, (name, _) in enumerate(STAMPEDE):
            stack.enter_context(uvicorn(name, port_for(20 + index), env, workers=4))
        for repeat in range(repeats):
            for index, (name, _) in enumerate(STAMPEDE):
                tag = f"{name}-{repeat}-{time.time_ns()}"
                times = asyncio.run(burst(port_for(20 + index), f"/cold/{tag}", 200))
                text = runs_file.read_text() if runs_file.exists() else ""
                count = sum(1 for line in text.splitlines() if line == tag)
                results[name].append((count, max(times) * 1000))
                last = max(times) * 1000
                print(f"repeat {repeat + 1} {name:32s} runs {count:4d}  last {last:7.1f} ms")
    return results


def report(
    throughput: dict[str, Series], stampede: dict[str, list[tuple[int, float]]], seconds: int
) -> str:
    repeats = len(throughput["rps"]["plain"])
    lines = [
        "## HTTP: the request path and the stampede",
        "",
        f"Machine: {machine()}; 2 cores shared by wrk, uvicorn and other work, so wall-clock",
        f"figures drift. `wrk -t1 -c64 -d{seconds}s`, {repeats} repeats; each subject runs right",
        "after a run of its framework's plain endpoint and is compared with that neighbour;",
        "medians of the repeats. *CPU/req* is the uvicorn process's user+system CPU time per",
        "request (/proc); *capacity* = plain's CPU/req ÷ the subject's, the throughput ratio",
        "a CPU-bound worker reaches, and the steadier figure on a loaded machine.",
        "Reproduce: `.venv/bin/python bench/bench_http.py`.",
        "",
        "| endpoint (FastAPI unless named; one uvicorn worker, 1 KiB body) | req/s | ÷ plain "
        "| CPU µs/req | capacity ÷ plain |",
        "|---|---:|---:|---:|---:|",
    ]
    t = throughput
    for name, label in THROUGHPUT:
        lines.append(
            f"| {label} | {median(t['rps'][name]):,.0f} | {median(t['ratio'][name]):.2f} "
            f"| {median(t['cpu'][name]):.1f} | {median(t['cap'][name]):.2f} |"
        )
    memory, redis = median(t["ratio"]["inhandler_memory"]), median(t["ratio"]["inhandler_redis"])
    memory_cap, redis_cap = (
        median(t["cap"]["inhandler_memory"]),
        median(t["cap"]["inhandler_redis"]),
    )
    frozen = "inhandler_redis+gcfreeze"
    frozen_ratio, frozen_cap = median(t["ratio"][frozen]), median(t["cap"][frozen])
    runs = [c for c, _ in stampede["stampede_ours_redis"]]
    last = median([ms for _, ms in stampede["stampede_ours_redis"]])
    lines += [
        "",
        f"Targets of issue 13, recommended path: in-memory fetch ≥ 0.9x plain — **{memory:.2f}x**"
        f" req/s, **{memory_cap:.2f}x** capacity; Redis fetch ≥ 0.8x — **{frozen_ratio:.2f}x**"
        f" req/s, **{frozen_cap:.2f}x** capacity with `gc.freeze()` at start-up (without it:"
        f" **{redis:.2f}x** req/s, **{redis_cap:.2f}x** capacity); stampede, handler runs"
        " exactly 1 — "
        f"**{', '.join(map(str, runs))}**; last response ≤ 150 ms — **{last:.0f} ms**.",
    ]
    lines += [
        "",
        "Stampede: 200 concurrent requests for one cold key, handler of 100 ms, four uvicorn",
        "workers on one Redis. Handler runs per repeat, and the last response's latency",
        "(median of repeats).",
        "",
        "| subject | handler runs (each repeat) | last response, ms |",
        "|---|---|---:|",
    ]
    for name, label in STAMPEDE:
        counts = ", ".join(str(c) for c, _ in stampede[name])
        last = median([t for _, t in stampede[name]])
        lines.append(f"| {label} | {counts} | {last:.0f} |")
    lines += [
        "",
        "Notes. `Depends()` on a class costs a hop to FastAPI's threadpool and back on every",
        "request (compare the empty class dependency with the plain endpoint): that, not",
        "building `Cachette()` (about 0.15 µs), is the cost of the 0.1.x idiom. An `async def`",
        "provider (`CachetteDep`) runs on the event loop but still pays FastAPI's dependency",
        "resolution; `Cachette(request)` in the handler pays neither (docs/frameworks.md).",
        "Across processes, `get_or_set` takes its lock with `Backend.add`, which on Redis is",
        "the engine's atomic `SET NX PX` (released by a compare-and-delete script): one worker",
        "computes, the others wait for its value. With `lock=False` each worker computes once",
        "(4 runs). Waiting workers poll the key every 5 to 25 ms (docs/stampede.md).",
        "",
        "Controls: `plain endpoint + await asyncio.sleep(0)` is what suspending a handler once",
        "costs by itself (its objects live on to the next loop iteration); `redis-py ... no cache",
        "library` is one GET through the usual Python client, with no cache library around it.",
        "",
        "Why `gc.freeze()`: a handler that awaits network I/O keeps its request's objects",
        "alive across the await, so with 64 requests in flight CPython 3.11's collector runs",
        "about once per ten requests, and every few thousand requests a full collection walks",
        "all of the app's modules (~50,000 objects, ~13 ms). A handler that never suspends (the",
        "in-memory fetch, the plain endpoint) allocates and frees within one step and barely",
        "collects. `gc.freeze()` once the app is built moves the start-up objects out of the",
        "collector's reach (docs/frameworks.md); compare each Redis row with its `gc.freeze()`",
        "row for what it saves per request. Cashews and redis-py also await Redis per request;",
        "their rows with and without it are beside ours.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", choices=["throughput", "stampede"])
    parser.add_argument(
        "--subjects",
        help="comma-separated throughput subjects to run (with their plain baselines); "
        "implies --only throughput and writes nothing",
    )
    args = parser.parse_args()
    subjects = THROUGHPUT
    if args.subjects:
        wanted = set(args.subjects.split(","))
        wanted |= {baseline(name) for name in wanted}
        subjects = [(name, label) for name, label in THROUGHPUT if name in wanted]
        if len(subjects) != len(wanted):
            raise SystemExit(f"unknown subjects: {sorted(wanted - {n for n, _ in subjects})}")
        args.only = "throughput"
    with private_server("redis-server") as redis_port:
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        throughput = (
            run_throughput(redis_url, args.seconds, args.repeats, subjects)
            if args.only != "stampede"
            else {}
        )
        stampede = run_stampede(redis_url, args.repeats) if args.only != "throughput" else {}
    if throughput and not stampede:
        for name, _ in subjects:
            print(
                f"median {name:26s} {median(throughput['rps'][name]):8.0f} req/s"
                f" {median(throughput['ratio'][name]):5.2f}x"
                f" {median(throughput['cpu'][name]):6.1f} µs CPU/req"
                f" {median(throughput['cap'][name]):5.2f}x capacity"
            )
    if throughput and stampede:
        body = report(throughput, stampede, args.seconds)
        print(body)
        if not args.no_write:
            write_section("http", body)


if __name__ == "__main__":
    main()
