"""Fault suite (``make faults``; not part of ``make test``): what an operator's bad day does
to a running cache, measured under concurrent load.

Scenarios, each against servers this script starts itself on private ports
(CACHETTE_PORT_BASE + 70..79, never a shared test server):

- redis / memcached killed with SIGKILL and restarted;
- redis / memcached frozen with SIGSTOP, then resumed;
- file store: four writer processes sharing one store, one SIGKILLed every 0.2 s and
  restarted, twenty times;
- redis start-up under threads: four threads, each with its own event loop, making their
  first calls together on a freshly configured cache (no fault: any error fails the row);
- a full redis (maxmemory, noeviction): get_or_set keeps returning computed values, counted
  as refused writes, with no error; after flush() values are stored again;
- a full redis, reads and removals: fetch, fetch_with_ttl, clear and flush never fail;
- file store on a full disk (a tmpfs of its own, or RLIMIT_FSIZE): writes refused with
  CachetteStoreFullError, reads and removals never fail, flush() makes room;
- file store truncated under four processes: each fails the operation that meets the cut
  (CachetteStorageError), none is killed by SIGBUS, and each goes on with a fresh store.

For each it reports errors by type, the longest any operation took (it must never exceed the
configured ``timeout`` by more than a small scheduling slack: "hang"), the time from the
server's return to the first successful operation ("recovery"), and lost writes: writes the
cache acknowledged that cannot be read back although the server kept its memory (writes
acknowledged before a server is SIGKILLed die with it and are counted apart, as "gone with
server"). The table goes to stdout; docs/faults.md holds the latest one.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from cachette import Cachette, CachetteStoreFullError

TIMEOUT = 0.5
SLACK = 0.25
TASKS = 16
PORT_BASE = int(os.environ.get("CACHETTE_PORT_BASE", "18200")) + 70


@dataclass
class Outcome:
    scenario: str
    ops: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    max_latency: float = 0.0
    recovery: float | None = None
    lost: int = 0
    gone_with_server: int = 0
    checked: int = 0
    #: Longest acceptable operation: the network timeout plus scheduling slack; for the file
    #: store (no timeout: a put waits for LMDB's one writer and for map growth), 2 s.
    limit: float = TIMEOUT + SLACK
    #: Scenarios with no fault injected (start-up under threads): any error fails the row.
    errors_fail: bool = False

    @property
    def hang(self) -> bool:
        return self.max_latency > self.limit


def wait_port(port: int, up: bool = True, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            if up:
                return
        except OSError:
            if not up:
                return
        time.sleep(0.02)
    raise RuntimeError(f"port {port} did not come {'up' if up else 'down'}")


class Server:
    def __init__(self, kind: str, port: int, workdir: pathlib.Path) -> None:
        self.kind, self.port, self.workdir = kind, port, workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.kind == "redis":
            cmd = [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
            ]  # fmt: skip
        else:
            cmd = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
            if os.geteuid() == 0:
                cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        wait_port(self.port, up=False)

    def url(self) -> list[tuple[str, object]]:
        if self.kind == "redis":
            return [("backend", "redis"), ("redis_url", f"redis://127.0.0.1:{self.port}/0")]
        return [("backend", "memcached"), ("memcached_host", f"127.0.0.1:{self.port}")]


async def network_scenario(server: Server, fault: str) -> Outcome:
    """Load from TASKS tasks; `fault` is "kill" (SIGKILL + restart) or "stop" (SIGSTOP/CONT)."""
    Cachette.load_config(
        lambda: [*server.url(), ("timeout", TIMEOUT), ("connect_timeout", TIMEOUT), ("ttl", 600)]
    )
    cache = Cachette()
    out = Outcome(f"{server.kind} {'SIGKILL + restart' if fault == 'kill' else 'SIGSTOP 1.5 s'}")
    acked: dict[str, tuple[float, str]] = {}
    state: dict[str, float | None] = {"fault_at": None, "back_at": None}
    stop = asyncio.Event()

    async def worker(n: int) -> None:
        seq = 0
        while not stop.is_set():
            seq += 1
            key, value = f"fault:{n}:{seq}", f"{n}-{seq}"
            start = time.monotonic()
            try:
                await cache.put(key, value)
                acked[key] = (time.monotonic(), value)
                await cache.fetch(key)
                ok = True
            except Exception as e:  # counted by type: the point of the suite
                out.errors[type(e).__name__] += 1
                ok = False
            end = time.monotonic()
            out.ops += 1
            out.max_latency = max(out.max_latency, end - start)
            back = state["back_at"]
            if ok and back is not None and out.recovery is None and start >= back:
                out.recovery = end - back
            if not ok:
                await asyncio.sleep(0.005)

    tasks = [asyncio.create_task(worker(n)) for n in range(TASKS)]
    await asyncio.sleep(1.0)
    state["fault_at"] = time.monotonic()
    if fault == "kill":
        await asyncio.to_thread(server.kill)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
    else:
        server.signal(signal.SIGSTOP)
        await asyncio.sleep(1.5)
        server.signal(signal.SIGCONT)
    state["back_at"] = time.monotonic()
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*tasks)

    fault_at, back_at = state["fault_at"], state["back_at"]
    assert fault_at is not None and back_at is not None
    for key, (when, value) in acked.items():
        survived_server = fault == "stop" or when > back_at
        got = await cache.fetch(key)
        out.checked += 1
        if got != value:
            if survived_server:
                out.lost += 1
            else:
                out.gone_with_server += 1
    return out


def file_writer(path: str, writer: int, start_seq: int, acked: Any, latency: Any) -> None:
    Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("ttl", 600)])
    cache = Cachette()

    async def run() -> None:
        seq = start_seq
        while True:
            begin = time.monotonic()
            await cache.put(f"w{writer}:{seq}", f"{writer}-{seq}" * 4)
            took = time.monotonic() - begin
            # Plain shared memory, no lock: a writer killed holding a lock would hang the rest.
            latency[writer] = max(latency[writer], took)
            acked[writer] = seq  # only after put returned: this write is committed
            seq += 1

    asyncio.run(run())


async def file_scenario(workdir: pathlib.Path) -> Outcome:
    out = Outcome("file store, 4 writers, SIGKILL x20", limit=2.0)
    path = str(workdir / "faults.lmdb")
    ctx = multiprocessing.get_context("spawn")
    acked = ctx.Array("q", [0] * 4, lock=False)
    latency = ctx.Array("d", [0.0] * 4, lock=False)
    writers: dict[int, Any] = {}

    def spawn(n: int) -> None:
        p = ctx.Process(target=file_writer, args=(path, n, acked[n] + 1, acked, latency))
        p.start()
        writers[n] = p

    for n in range(4):
        spawn(n)
    await asyncio.sleep(1.5)
    rng = random.Random(11)
    for _ in range(20):
        await asyncio.sleep(0.2)
        victim = rng.randrange(4)
        os.kill(writers[victim].pid, signal.SIGKILL)
        writers[victim].join()
        before = acked[victim]
        killed_at = time.monotonic()
        spawn(victim)
        # Recovery: until the restarted writer commits its first write.
        while acked[victim] == before and time.monotonic() - killed_at < 10:
            await asyncio.sleep(0.005)
        took = time.monotonic() - killed_at
        out.recovery = max(out.recovery or 0.0, took)
        print(f"  killed writer {victim}: back in {took * 1000:.0f} ms", file=sys.stderr)
    await asyncio.sleep(0.5)
    for p in writers.values():
        p.kill()
        p.join()
    out.max_latency = max(latency)
    Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("ttl", 600)])
    cache = Cachette()
    for n in range(4):
        for seq in range(1, acked[n] + 1):
            out.checked += 1
            out.ops += 1
            try:
                got = await cache.fetch(f"w{n}:{seq}")
            except Exception as e:
                out.errors[type(e).__name__] += 1
                continue
            if got != f"{n}-{seq}" * 4:
                out.lost += 1
    return out


def startup_threads_scenario(server: Server, rounds: int = 5) -> Outcome:
    """Four threads, each with its own event loop, make their first calls together on a
    freshly configured cache, ``rounds`` times (a new configuration each time): 4 x 100
    operations per round, none may fail. Recovery: the slowest thread's first success."""
    out = Outcome(f"{server.kind} start-up, 4 threads x 100 ops, {rounds} configs", limit=2.0)
    out.errors_fail = True
    out.recovery = 0.0
    for round_ in range(rounds):
        settings = [*server.url(), ("timeout", 1.0 + round_ / 100), ("ttl", 600)]
        Cachette.load_config(lambda s=settings: s)  # type: ignore[misc]
        startup_threads_round(out, f"startup:{round_}", time.monotonic())
    return out


def startup_threads_round(out: Outcome, prefix: str, configured: float) -> None:
    import threading

    barrier = threading.Barrier(4)

    async def work(n: int) -> None:
        cache = Cachette()
        first = True
        for i in range(50):
            key, value = f"{prefix}:{n}:{i}", f"{n}-{i}"
            for op in ("put", "fetch"):
                start = time.monotonic()
                try:
                    if op == "put":
                        await cache.put(key, value)
                    elif await cache.fetch(key) != value:
                        out.lost += 1
                    if first:
                        first = False
                        out.recovery = max(out.recovery or 0.0, time.monotonic() - configured)
                except Exception as e:  # counted by type: the point of the suite
                    out.errors[type(e).__name__] += 1
                out.max_latency = max(out.max_latency, time.monotonic() - start)
                out.ops += 1
            out.checked += 1

    def thread_main(n: int) -> None:
        barrier.wait()
        asyncio.run(work(n))

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


async def full_redis_get_or_set_scenario(workdir: pathlib.Path) -> Outcome:
    """A Redis at maxmemory with noeviction refuses every write: get_or_set from TASKS tasks
    must still return each computed value (unstored, counted in store_failures), with no
    error. Recovery: from flush() to the first get_or_set whose value is stored again."""
    out = Outcome(f"redis full (noeviction): get_or_set x{TASKS} tasks", limit=TIMEOUT + SLACK)
    out.errors_fail = True
    port = PORT_BASE + 2
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--maxmemory", "4mb",
         "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        Cachette.load_config(
            lambda: [("backend", "redis"), ("redis_url", f"redis://127.0.0.1:{port}/0"),
                     ("timeout", TIMEOUT), ("ttl", 600)]
        )  # fmt: skip
        cache = Cachette()
        for size in (32768, 1024, 32):  # until not even a small value fits
            for i in range(100_000):
                try:
                    await cache.put(f"filler:{size}:{i}", "x" * size)
                except Exception:
                    break
        failures_before = Cachette.stats()["store_failures"]
        stop = asyncio.Event()

        async def worker(n: int) -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                key, value = f"full:{n}:{seq}", f"{n}-{seq}"

                async def compute(value: str = value) -> str:
                    return value

                start = time.monotonic()
                try:
                    if await cache.get_or_set(key, compute) != value:
                        out.lost += 1
                except Exception as e:  # counted by type: the point of the suite
                    out.errors[type(e).__name__] += 1
                out.max_latency = max(out.max_latency, time.monotonic() - start)
                out.ops += 1
                out.checked += 1

        tasks = [asyncio.create_task(worker(n)) for n in range(TASKS)]
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.gather(*tasks)
        refused = Cachette.stats()["store_failures"] - failures_before
        out.scenario += f", {refused} writes refused and counted"
        flushed = time.monotonic()
        try:
            await cache.flush()

            async def again() -> str:
                return "stored again"

            while time.monotonic() - flushed < 5:
                await cache.get_or_set("full:after-flush", again)
                if await cache.fetch("full:after-flush") == "stored again":
                    out.recovery = time.monotonic() - flushed
                    break
                await asyncio.sleep(0.01)
        except Exception as e:
            out.errors[f"after flush: {type(e).__name__}"] += 1
    finally:
        proc.kill()
        proc.wait()
    return out


async def full_redis_reads_scenario(workdir: pathlib.Path) -> Outcome:
    """A Redis at maxmemory with noeviction, filled through the cache until it refuses
    (CachetteStoreFullError): from TASKS tasks, fetch, fetch_with_ttl and clear(key=) keep
    working (each task reads and removes its own keys); any error fails the row. Then
    clear(namespace=) and flush(); recovery: from flush() to the first put stored again."""
    out = Outcome(
        f"redis full (noeviction): reads + removals x{TASKS} tasks", limit=TIMEOUT + SLACK
    )
    out.errors_fail = True
    port = PORT_BASE + 3
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--maxmemory", "4mb",
         "--maxmemory-policy", "noeviction"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_port(port)
        Cachette.load_config(
            lambda: [("backend", "redis"), ("redis_url", f"redis://127.0.0.1:{port}/0"),
                     ("timeout", TIMEOUT), ("ttl", 600)]
        )  # fmt: skip
        cache = Cachette()
        filled = 0
        while True:
            try:
                await cache.put(f"filler:{filled}", f"{filled}" * 100)
            except CachetteStoreFullError:
                break
            filled += 1
        out.scenario += f", {filled} entries"

        async def worker(n: int) -> None:
            for i in range(n, filled // 2, TASKS):  # the first half: read, then removed
                key, value = f"filler:{i}", f"{i}" * 100
                for op in ("fetch", "fetch_with_ttl", "clear", "fetch"):
                    start = time.monotonic()
                    try:
                        if op == "clear":
                            out.lost += 1 - await cache.clear(key=key)
                        elif op == "fetch_with_ttl":
                            out.lost += (await cache.fetch_with_ttl(key))[1] != value
                        else:
                            got = await cache.fetch(key)
                            # Before the clear the value, after it nothing.
                            out.lost += got not in (value, None)
                    except Exception as e:  # counted by type: the point of the suite
                        out.errors[type(e).__name__] += 1
                    out.max_latency = max(out.max_latency, time.monotonic() - start)
                    out.ops += 1
                out.checked += 1

        await asyncio.gather(*(worker(n) for n in range(TASKS)))
        try:
            out.ops += 2
            if await cache.clear(namespace="filler") != filled - filled // 2:
                out.lost += 1
            flushed = time.monotonic()
            await cache.flush()
            await cache.put("after-flush", "stored again")
            if await cache.fetch("after-flush") == "stored again":
                out.recovery = time.monotonic() - flushed
        except Exception as e:
            out.errors[f"after fill: {type(e).__name__}"] += 1
    finally:
        proc.kill()
        proc.wait()
    return out


def file_full_child(path: str, mode: str, disk: int, results: Any) -> None:
    """The full-disk scenario's process: fills the store until the disk refuses, then reads
    and removes from TASKS tasks, clears a namespace, flushes, and writes again."""
    import resource

    if mode == "rlimit":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (disk, hard))
    Cachette.load_config(
        lambda: [("backend", "pickle"), ("pickle_path", path), ("pickle_max_size", 0)]
    )
    cache = Cachette()
    out: dict[str, Any] = {"errors": collections.Counter(), "ops": 0, "lost": 0, "latency": 0.0}

    async def run() -> None:
        filled = 0
        while True:
            try:
                await cache.put(f"filler:{filled}", b"x" * 3000)
            except CachetteStoreFullError:
                break
            filled += 1
        out["filled"] = filled

        async def worker(n: int) -> None:
            for i in range(n, filled // 2, TASKS):
                key = f"filler:{i}"
                for op in ("fetch", "fetch_with_ttl", "clear"):
                    start = time.monotonic()
                    try:
                        if op == "clear":
                            out["lost"] += 1 - await cache.clear(key=key)
                        elif op == "fetch_with_ttl":
                            out["lost"] += (await cache.fetch_with_ttl(key))[1] != b"x" * 3000
                        else:
                            out["lost"] += await cache.fetch(key) != b"x" * 3000
                    except Exception as e:  # counted by type: the point of the suite
                        out["errors"][type(e).__name__] += 1
                    out["latency"] = max(out["latency"], time.monotonic() - start)
                    out["ops"] += 1
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(n) for n in range(TASKS)))
        try:
            out["ops"] += 2
            out["lost"] += await cache.clear(namespace="filler") != filled - filled // 2
            flushed = time.monotonic()
            await cache.flush()
            await cache.put("after-flush", b"stored again")
            if await cache.fetch("after-flush") == b"stored again":
                out["recovery"] = time.monotonic() - flushed
        except Exception as e:
            out["errors"][f"after fill: {type(e).__name__}"] += 1

    asyncio.run(run())
    results.put(out)


async def file_full_disk_scenario(workdir: pathlib.Path) -> Outcome:
    """The file store on a full file system: a 72 MiB tmpfs of its own (or, where mounting
    is refused, RLIMIT_FSIZE in the child). Writes are refused with CachetteStoreFullError;
    reads and removals from TASKS tasks must not fail; recovery: flush() to a stored put."""
    disk = 72 << 20
    directory = workdir / "full-disk"
    directory.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={disk},mode=0700", "tmpfs", str(directory)],
        capture_output=True,
    ).returncode == 0  # fmt: skip
    mode = "tmpfs" if mounted else "rlimit"
    out = Outcome(
        f"file store, full disk ({mode} 72 MiB): reads + removals x{TASKS} tasks", limit=2.0
    )
    out.errors_fail = True
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(
        target=file_full_child, args=(str(directory / "full.lmdb"), mode, disk, results)
    )
    try:
        child.start()
        got = await asyncio.to_thread(results.get, True, 120)
        child.join()
    finally:
        if mounted:
            subprocess.run(["umount", str(directory)], check=False)
    out.scenario += f", {got['filled']} entries"
    out.errors.update(got["errors"])
    out.ops, out.lost, out.max_latency = got["ops"], got["lost"], got["latency"]
    out.checked = got["filled"] // 2
    out.recovery = got.get("recovery")
    return out


def truncated_reader(path: str, n: int, results: Any, ready: Any, go: Any) -> None:
    """One process reading and writing the store while the parent truncates its file."""
    Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path), ("ttl", 600)])
    cache = Cachette()
    out: dict[str, Any] = {"errors": collections.Counter(), "ops": 0, "latency": 0.0}

    async def run() -> None:
        for i in range(200):
            await cache.put(f"r{n}:{i}", i)
        ready.release()
        go.wait()
        failed_at = None
        end = time.monotonic() + 1.5
        i = 0
        while time.monotonic() < end:
            i += 1
            start = time.monotonic()
            try:
                await cache.fetch(f"r{n}:{i % 200}")
                await cache.put(f"r{n}:{i % 200}", i)
                if failed_at is not None and "recovery" not in out:
                    out["recovery"] = time.monotonic() - failed_at
            except Exception as e:  # counted by type: the point of the suite
                out["errors"][type(e).__name__] += 1
                failed_at = failed_at or time.monotonic()
            out["latency"] = max(out["latency"], time.monotonic() - start)
            out["ops"] += 1

    asyncio.run(run())
    results.put(out)


async def file_truncated_scenario(workdir: pathlib.Path) -> Outcome:
    """Four processes fetch and put on one store; 0.5 s in, the file is truncated to 0 bytes
    from outside. Each process may fail the operation that meets the cut (SIGBUS caught,
    CachetteStorageError) and must then go on with a fresh store; a process killed counts as
    lost. Recovery: the slowest process's first success after its error."""
    out = Outcome("file store truncated under 4 processes (lost = processes killed)", limit=2.0)
    path = workdir / "truncated.lmdb"
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [
        ctx.Process(target=truncated_reader, args=(str(path), n, results, ready, go))
        for n in range(4)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # each started and filled
        await asyncio.to_thread(ready.acquire, True, 60)
    go.set()
    await asyncio.sleep(0.5)
    os.truncate(path, 0)
    for p in procs:
        await asyncio.to_thread(p.join, 30)
    out.checked = len(procs)
    out.lost = sum(p.exitcode != 0 for p in procs)
    for _ in range(len(procs) - out.lost):
        got = results.get(timeout=10)
        out.errors.update(got["errors"])
        out.ops += got["ops"]
        out.max_latency = max(out.max_latency, got["latency"])
        if "recovery" in got:
            out.recovery = max(out.recovery or 0.0, got["recovery"])
    return out


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| scenario | ops | errors by type | max latency | hang | recovery | lost writes "
        "| gone with server |",
        "|---|---:|---|---:|---|---:|---:|---:|",
    ]
    for o in outcomes:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(o.errors.items())) or "none"
        recovery = "n/a" if o.recovery is None else f"{o.recovery * 1000:.0f} ms"
        rows.append(
            f"| {o.scenario} | {o.ops} | {errors} | {o.max_latency * 1000:.0f} ms "
            f"| {'YES' if o.hang else 'no'} | {recovery} | {o.lost} of {o.checked} "
            f"| {o.gone_with_server} |"
        )
    return "\n".join(rows)


async def main() -> int:
    only = set(sys.argv[1:]) or {"redis", "memcached", "file"}  # e.g. fault_suite.py file
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="cachette-faults-"))
    servers = [
        server
        for server in (
            Server("redis", PORT_BASE, workdir),
            Server("memcached", PORT_BASE + 1, workdir),
        )
        if server.kind in only
    ]
    outcomes: list[Outcome] = []
    try:
        for server in servers:
            server.start()
            for fault in ("kill", "stop"):
                outcomes.append(await network_scenario(server, fault))
                print(table(outcomes[-1:]).splitlines()[-1], flush=True)
            if server.kind == "redis":
                outcomes.append(await asyncio.to_thread(startup_threads_scenario, server))
                print(table(outcomes[-1:]).splitlines()[-1], flush=True)
                outcomes.append(await full_redis_get_or_set_scenario(workdir))
                print(table(outcomes[-1:]).splitlines()[-1], flush=True)
                outcomes.append(await full_redis_reads_scenario(workdir))
                print(table(outcomes[-1:]).splitlines()[-1], flush=True)
        if "file" in only:
            outcomes.append(await file_scenario(workdir))
            for file_fault in (file_full_disk_scenario, file_truncated_scenario):
                outcomes.append(await file_fault(workdir))
                print(table(outcomes[-1:]).splitlines()[-1], flush=True)
    finally:
        for server in servers:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        f"timeout={TIMEOUT}s, {TASKS} concurrent tasks per network scenario; "
        "recovery of the file store = a killed writer's replacement process starting, "
        "opening the store and committing its first write"
    )
    print(table(outcomes))
    failed = [
        o.scenario
        for o in outcomes
        if o.hang or o.lost or o.recovery is None or (o.errors_fail and o.errors)
    ]
    if failed:
        print("FAILED:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
