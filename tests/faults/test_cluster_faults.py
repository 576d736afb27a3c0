"""Faults under load (100 tasks) against the clusters of scripts/services.d/redis-cluster.sh:
slots resharded while running, a primary killed, a Sentinel failover.

Not part of `make test` (each takes seconds of real failover): `make cluster-faults`. The
timings are printed (run with -s) and collected by bench/bench_redis_cluster.py --faults; the
assertions are about correctness only: no errors, no wrong values, served again after the
failover.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import subprocess
import time

import pytest

from cachette import Cachette

pytestmark = pytest.mark.integration

TASKS = 100


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through scripts/with-services.sh")
    return value


def cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args], check=True, capture_output=True, text=True
    ).stdout


def cluster_nodes(port: int) -> list[dict[str, str]]:
    nodes = []
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        nodes.append(
            {
                "id": fields[0],
                "port": fields[1].split("@")[0].rsplit(":", 1)[1],
                "flags": fields[2],
                "master": fields[3],
                "slots": " ".join(fields[8:]),
            }
        )
    return nodes


def primaries(port: int) -> list[dict[str, str]]:
    return [n for n in cluster_nodes(port) if "master" in n["flags"] and "fail" not in n["flags"]]


def wait_cluster_ok(ports: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                if "cluster_state:ok" in cli(port, "CLUSTER", "INFO"):
                    break
            except subprocess.CalledProcessError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"cluster not ok on {port}")
            time.sleep(0.1)


class Load:
    """TASKS tasks writing then reading their own keys; counts errors and wrong values."""

    def __init__(self, cache: Cachette, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix
        self.running = True
        self.errors = 0
        self.wrong = 0  # a value this key never held
        self.stale = 0  # an earlier value of this key (a write lost in a failover)
        self.ops = 0
        self.misses = 0

    async def task(self, n: int) -> None:
        i = 0
        while self.running:
            key = f"{self.prefix}:{n}:{i % 50}"
            value = f"{n}-{i}"
            try:
                await self.cache.put(key, value)
                got = await self.cache.fetch(key)
                if got is None:
                    self.misses += 1
                elif got != value:
                    # Redis replication is asynchronous, and fail_open drops failed writes: in a
                    # failover, a read may return this key's previous value. Anything else is
                    # wrong.
                    writer, _, step = str(got).partition("-")
                    earlier = writer == str(n) and step.isdigit() and int(step) < i
                    if earlier and int(step) % 50 == i % 50:
                        self.stale += 1
                    else:
                        self.wrong += 1
            except Exception:
                self.errors += 1
            self.ops += 1
            i += 1

    async def run_while(self, action: asyncio.Future[object]) -> None:
        tasks = [asyncio.create_task(self.task(n)) for n in range(TASKS)]
        try:
            await action
        finally:
            self.running = False
            await asyncio.gather(*tasks)


async def run_blocking(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


@pytest.mark.parametrize(
    ("backend", "key", "variable"),
    [
        ("redis", "redis_url", "CACHETTE_TEST_REDIS_CLUSTER"),
        ("valkey", "valkey_url", "CACHETTE_TEST_VALKEY_CLUSTER"),
    ],
)
async def test_reshard_under_load_has_no_errors_and_no_wrong_values(
    backend: str, key: str, variable: str
) -> None:
    url = env(f"{variable}_URL")
    ports = [int(p) for p in env(f"{variable}_PORTS").split(",")]
    Cachette.load_config(lambda: [("backend", backend), (key, url)])
    load = Load(Cachette(), "reshard")
    nodes = primaries(ports[0])
    source, target = nodes[0], nodes[1]

    async def reshard(src: dict[str, str], dst: dict[str, str]) -> None:
        await asyncio.sleep(0.3)
        await run_blocking(
            "redis-cli", "--cluster", "reshard", f"127.0.0.1:{ports[0]}",
            "--cluster-from", src["id"], "--cluster-to", dst["id"],
            "--cluster-slots", "1000", "--cluster-yes",
        )  # fmt: skip
        await asyncio.sleep(0.3)

    started = time.monotonic()
    await load.run_while(asyncio.ensure_future(reshard(source, target)))
    print(
        f"\n{backend} reshard of 1000 slots under {TASKS} tasks: {load.ops} ops in "
        f"{time.monotonic() - started:.1f} s, {load.errors} errors, {load.wrong} wrong values, "
        f"{load.stale} stale"
    )
    # Move the slots back so the cluster keeps its shape for other runs.
    load2 = Load(Cachette(), "reshard-back")
    await load2.run_while(asyncio.ensure_future(reshard(target, source)))
    assert load.errors == 0
    assert load.wrong == 0
    assert load.stale == 0  # no failover here: no write may be lost
    assert load.misses == 0
    assert load2.errors == 0
    assert load2.wrong == 0
    assert load2.stale == 0


def restart_node(directory: pathlib.Path, server: str, port: int) -> None:
    subprocess.run(
        [
            server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--dir", str(directory),
            "--pidfile", str(directory / f"{port}.pid"),
            "--logfile", str(directory / f"{port}.log"),
            "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", "1000", "--cluster-require-full-coverage", "no",
        ],
        check=True,
    )  # fmt: skip


async def test_primary_killed_replica_promoted_and_served() -> None:
    url = env("CACHETTE_TEST_REDIS_CLUSTER_URL")
    ports = [int(p) for p in env("CACHETTE_TEST_REDIS_CLUSTER_PORTS").split(",")]
    directory = pathlib.Path(env("CACHETTE_TEST_REDIS_CLUSTER_DIR"))
    server = env("CACHETTE_TEST_REDIS_SERVER")
    Cachette.load_config(
        lambda: [("backend", "redis"), ("redis_url", url), ("fail_open", True), ("timeout", 0.5)]
    )
    cache = Cachette()
    victim = primaries(ports[0])[-1]
    victim_port = int(victim["port"])
    watcher = next(p for p in ports if p != victim_port)
    replica = next(n for n in cluster_nodes(watcher) if n["master"] == victim["id"])
    # A key whose slot the victim serves.
    probe_key = next(
        f"probe:{i}"
        for i in range(100000)
        if int(cli(watcher, "CLUSTER", "KEYSLOT", f"probe:{i}").strip()) in _slots(victim["slots"])
    )
    load = Load(cache, "kill")
    timings: dict[str, float] = {}

    async def kill_and_watch() -> None:
        await asyncio.sleep(0.5)
        pid = int((directory / f"{victim_port}.pid").read_text())
        os.kill(pid, 9)
        killed = time.monotonic()
        # Promotion: the replica shows up as a primary in another node's view.
        while True:
            me = next(n for n in cluster_nodes(watcher) if n["id"] == replica["id"])
            if "master" in me["flags"]:
                break
            await asyncio.sleep(0.02)
            assert time.monotonic() - killed < 30, "no promotion within 30 s"
        promoted = time.monotonic()
        timings["promotion_after_kill"] = promoted - killed
        while True:
            await cache.put(probe_key, "after")
            if await cache.fetch(probe_key) == "after":
                break
            await asyncio.sleep(0.01)
            assert time.monotonic() - promoted < 20, "not served within 20 s of the promotion"
        timings["served_after_promotion"] = time.monotonic() - promoted
        await asyncio.sleep(0.3)

    await load.run_while(asyncio.ensure_future(kill_and_watch()))
    print(
        f"\nprimary killed under {TASKS} tasks: promoted {timings['promotion_after_kill']:.2f} s "
        f"after the kill, served {timings['served_after_promotion']:.3f} s after the promotion; "
        f"{load.ops} ops, {load.misses} misses (fail_open), {load.errors} errors, "
        f"{load.stale} stale reads (writes lost in the failover), {load.wrong} wrong"
    )
    restart_node(directory, server, victim_port)
    wait_cluster_ok(ports)
    assert load.errors == 0  # fail_open turned the gap into misses
    assert load.wrong == 0


def _slots(spec: str) -> set[int]:
    out: set[int] = set()
    for part in spec.split():
        if part.startswith("["):
            continue
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


async def test_sentinel_failover_is_followed() -> None:
    url = env("CACHETTE_TEST_SENTINEL_URL")
    sentinels = [int(p) for p in env("CACHETTE_TEST_SENTINEL_PORTS").split(",")]
    Cachette.load_config(
        lambda: [("backend", "redis"), ("redis_url", url), ("fail_open", True), ("timeout", 0.5)]
    )
    cache = Cachette()
    load = Load(cache, "sentinel")
    timings: dict[str, float] = {}

    def primary() -> str:
        return " ".join(
            cli(sentinels[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cachette").split()
        )

    async def failover() -> None:
        await asyncio.sleep(0.5)
        before = primary()
        started = time.monotonic()
        cli(sentinels[0], "SENTINEL", "FAILOVER", "cachette")
        while primary() == before:
            await asyncio.sleep(0.02)
            assert time.monotonic() - started < 30, "no failover within 30 s"
        switched = time.monotonic()
        timings["switch"] = switched - started
        while True:
            await cache.put("sentinel:probe", "after")
            if await cache.fetch("sentinel:probe") == "after":
                break
            await asyncio.sleep(0.01)
            assert time.monotonic() - switched < 20, "not served within 20 s of the switch"
        timings["served_after_switch"] = time.monotonic() - switched
        await asyncio.sleep(0.3)

    await load.run_while(asyncio.ensure_future(failover()))
    print(
        f"\nSentinel failover under {TASKS} tasks: primary switched {timings['switch']:.2f} s "
        f"after SENTINEL FAILOVER, served {timings['served_after_switch']:.3f} s later; "
        f"{load.ops} ops, {load.misses} misses (fail_open), {load.errors} errors, "
        f"{load.stale} stale reads, {load.wrong} wrong"
    )
    assert load.errors == 0
    assert load.wrong == 0
