"""HTTP response caching on Redis: wrk against uvicorn on 127.0.0.1, one run, interleaved.

Subjects, each its own uvicorn process (one worker, same FastAPI endpoint returning a ~1 KB
JSON document, same private redis-server):
  plain           the endpoint without any cache (the baseline)
  ours hit        cachette.http.HttpCache + @cache_response(ttl=...), answered from Redis
  ours 304        the same, the client sending If-None-Match: answered 304 from Redis
  cashews         cashews @cache on the endpoint
  fastapi-cache2  fastapi-cache2 @cache on the endpoint (the peers need the bench extra;
                  by default they run when installed)
  base hit/304    with --baseline OLD_CHECKOUT: ours hit and ours 304 served by a uvicorn that
                  imports OLD_CHECKOUT's package (its _core copied or built into
                  OLD_CHECKOUT/python/cachette/), on the same Redis under another namespace
Every repeat runs every subject once, in turn (every other repeat in reverse order); the table
shows medians over the repeats, and the ratios are medians of per-repeat ratios.

    .venv/bin/python bench/bench_http_cache.py [--repeats 3] [--seconds 5] [--connections 16]
        [--subjects plain,hit,304] [--baseline OLD_CHECKOUT] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _report import machine, median, write_section

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PATH = "/item/1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not start on port {port}")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing: run scripts/bootstrap.sh")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="cachette-bench-http-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*args, "--dir", workdir], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: sha256 (first 12 digits) of the _core module each build's server loaded.
CORES: dict[str, str] = {}


@contextlib.contextmanager
def app_server(
    target: str, redis_url: str, old: pathlib.Path | None = None, namespace: str = "bench"
) -> Iterator[tuple[int, int]]:
    """One uvicorn process serving `_http_cache_apps:target`; with `old`, it imports that
    checkout's package instead of this tree's (bench/_run_other_build.py bypasses the editable
    install's import hook) and the bench checks, from the line the app prints, that it does."""
    port = free_port()
    env = dict(os.environ, BENCH_REDIS_URL=redis_url, BENCH_NAMESPACE=namespace)
    prefix = [] if old is None else [str(HERE / "_run_other_build.py"), str(old / "python")]
    cmd = [sys.executable, *prefix, "-m", "uvicorn", f"_http_cache_apps:{target}"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    log = tempfile.NamedTemporaryFile(prefix="cachette-bench-uvicorn-", suffix=".log")
    proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, f"uvicorn {target}")
        if target == "ours":
            text = pathlib.Path(log.name).read_text()
            found = re.search(r"BENCH cachette=(\S+) core=(\S+)", text)
            want = (old or ROOT) / "python" / "cachette" / "__init__.py"
            if found is None or pathlib.Path(found.group(1)).resolve() != want.resolve():
                raise SystemExit(f"uvicorn {target} does not run {want}; its log:\n{text}")
            core = hashlib.sha256(pathlib.Path(found.group(2)).read_bytes()).hexdigest()[:12]
            CORES["base" if old else "ours"] = core
            print(
                f"{'base' if old else 'ours'} server: cachette {found.group(1)}, "
                f"_core {found.group(2)} (sha256 {core})",
                flush=True,
            )
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait()
        log.close()


def fetch(port: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{PATH}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def wrk(
    server: tuple[int, int], seconds: int, connections: int, headers: dict[str, str]
) -> tuple[float, float, float]:
    """(requests per second, p50 latency in ms, server CPU microseconds per request)."""
    port, pid = server
    cpu_before = cpu_seconds(pid)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{PATH}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx or 3xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    assert p50 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    cpu = cpu_seconds(pid) - cpu_before
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, float(p50.group(1)) * scale, cpu / count * 1e6


PEERS = {
    "cashews": ("cashews_app", "cashews"),
    "fastapi-cache2": ("fastapi_cache2_app", "fastapi_cache"),
}
CHOICES = ("plain", "hit", "304", *PEERS)


def choose_subjects(spec: str | None) -> list[str]:
    """The subjects asked for (comma-separated), or by default every one whose packages are
    installed (the peers come with the `bench` extra)."""
    if spec is None:
        chosen = ["plain", "hit", "304"]
        for name, (_, module) in PEERS.items():
            if importlib.util.find_spec(module) is not None:
                chosen.append(name)
            else:
                print(f"{name} skipped: {module} is not installed (the bench extra)", flush=True)
        return chosen
    chosen = [name.strip() for name in spec.split(",") if name.strip()]
    for name in chosen:
        if name not in CHOICES:
            raise SystemExit(f"unknown subject {name!r}: choose from {', '.join(CHOICES)}")
        if name in PEERS and importlib.util.find_spec(PEERS[name][1]) is None:
            raise SystemExit(f"{name} needs {PEERS[name][1]}: .venv/bin/pip install -e '.[bench]'")
    if "plain" not in chosen:
        raise SystemExit("the subjects must include plain: every ratio is to it")
    return chosen


def loop_and_parser() -> str:
    """What uvicorn's defaults (--loop auto, --http auto) pick in this environment."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"uvicorn --loop auto ({loop}), --http auto ({http})"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--subjects", help=f"comma-separated subset of {','.join(CHOICES)} (plain is required)"
    )
    parser.add_argument(
        "--baseline",
        type=pathlib.Path,
        metavar="OLD_CHECKOUT",
        help="another checkout (its _core copied or built into python/cachette/): adds "
        "'base hit' and 'base 304', served by a uvicorn importing that checkout's package",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    chosen = choose_subjects(args.subjects)
    old: pathlib.Path | None = args.baseline.resolve() if args.baseline else None
    if old is not None and not (old / "python" / "cachette" / "__init__.py").exists():
        raise SystemExit(f"{old} is not a checkout: python/cachette/__init__.py is missing")
    load_start = load()
    print(f"load average at start: {load_start}", flush=True)

    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        targets: dict[str, tuple[str, pathlib.Path | None, str]] = {"plain": ("plain", None, "")}
        if "hit" in chosen or "304" in chosen:
            targets["ours"] = ("ours", None, "bench")
            if old is not None:  # the same key length as ours, another namespace on one Redis
                targets["base"] = ("ours", old, "based")
        for name in PEERS:
            if name in chosen:
                targets[name] = (PEERS[name][0], None, "")
        servers = {
            name: stack.enter_context(app_server(target, redis_url, root, namespace))
            for name, (target, root, namespace) in targets.items()
        }
        for name, (port, _) in servers.items():  # fill each cache; check that the hits are hits
            fetch(port)
            status, headers = fetch(port)
            assert status == 200, (name, status)
        subjects: list[tuple[str, tuple[int, int], dict[str, str]]] = [
            ("plain", servers["plain"], {})
        ]
        for who, label in (("ours", "ours"), ("base", "base")):
            if who not in servers:
                continue
            _, first = fetch(servers[who][0])
            etag = first.get("etag") or first.get("ETag")
            assert etag and "age" in {k.lower() for k in first}, (who, first)
            assert fetch(servers[who][0], {"If-None-Match": etag})[0] == 304, who
            if "hit" in chosen:
                subjects.append((f"{label} hit", servers[who], {}))
            if "304" in chosen:
                subjects.append((f"{label} 304", servers[who], {"If-None-Match": etag}))
        subjects += [(name, servers[name], {}) for name in PEERS if name in chosen]
        for _, server, headers in subjects:  # warm-up, not counted
            wrk(server, 1, args.connections, headers)
        results: dict[str, list[tuple[float, float, float]]] = {n: [] for n, _, _ in subjects}
        loads: list[str] = []
        for repeat in range(args.repeats):
            loads.append(load())
            # every subject once per repeat; every other repeat in reverse order, so that no
            # subject always runs first or last
            order = subjects if repeat % 2 == 0 else subjects[::-1]
            for name, server, headers in order:
                results[name].append(wrk(server, args.seconds, args.connections, headers))
                done, _, used = results[name][-1]
                print(f"repeat {repeat + 1} {name:15} {done:8.0f} req/s {used:7.1f} us", flush=True)
    load_end = load()
    print(f"load average at end: {load_end}", flush=True)

    names = [name for name, _, _ in subjects]
    rps = {name: median([r[0] for r in runs]) for name, runs in results.items()}
    p50 = {name: median([r[1] for r in runs]) for name, runs in results.items()}
    cpu = {name: median([r[2] for r in runs]) for name, runs in results.items()}

    def pairs(a: str, b: str, field: int = 0) -> list[float]:
        """Per repeat, a's figure over b's (field 0: req/s, 2: CPU per request)."""
        return [ra[field] / rb[field] for ra, rb in zip(results[a], results[b], strict=True)]

    def ratio(a: str, b: str) -> str:
        """Throughput of a over b: the median of the per-repeat ratios (each repeat runs the
        subjects back to back, so a ratio compares runs under the same machine load) and
        their range; then the servers' CPU time per request, b's over a's (higher is better
        for a), likewise the median of per-repeat ratios."""
        each = pairs(a, b)
        saved = pairs(b, a, 2)
        return (
            f"{median(each):.2f}x req/s (repeats {min(each):.2f}-{max(each):.2f}), "
            f"{median(saved):.2f}x CPU/request (repeats {min(saved):.2f}-{max(saved):.2f})"
        )

    lines = [
        "## HTTP response cache on Redis (`bench/bench_http_cache.py`)",
        "",
        f"{machine()}; wrk -t1 -c{args.connections} on 127.0.0.1, {args.seconds} s per run, "
        f"{args.repeats} interleaved repeats (every other one in reverse order), medians; one "
        f"uvicorn worker per subject, {loop_and_parser()}; GET of a ~1 KB JSON document from a "
        "FastAPI endpoint; one private redis-server. Load average (1/5/15 min) "
        f"{load_start} at the start, {load_end} at the end (2 cores, shared with other work).",
    ]
    if old is not None:
        lines += [
            "",
            f"`base` is the checkout {old.name} ({git_describe(old)}), served by a uvicorn "
            "process that imports that checkout's package (checked from the `cachette.__file__` "
            "its app prints); `ours` is this tree "
            f"({git_describe(ROOT)}). "
            + (
                f"Both load the same `_core` extension module (sha256 {CORES['ours']}...)."
                if CORES.get("ours") == CORES.get("base")
                else f"Their `_core` modules differ (sha256 ours {CORES.get('ours')}..., "
                f"base {CORES.get('base')}...)."
            ),
        ]
    lines += [
        "",
        "| subject | req/s | p50 latency (ms) | server CPU per request (us) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in names:
        lines.append(f"| {name} | {rps[name]:,.0f} | {p50[name]:.2f} | {cpu[name]:.0f} |")
    lines += [
        "",
        "Ratios: throughput as the median of per-repeat ratios (runs back to back under the same "
        "load) with their range over the repeats; server CPU time per request (uvicorn "
        "process; Redis excluded), the other subject's over this one's (above 1: this one "
        "costs less), likewise per repeat.",
        "",
    ]
    if "ours hit" in results:
        lines.append(
            f"- ours hit vs plain endpoint: **{ratio('ours hit', 'plain')}** (target >= 1.0x)"
        )
    if "base hit" in results:
        lines.append(f"- base hit vs plain endpoint: **{ratio('base hit', 'plain')}**")
        lines.append(
            f"- ours hit vs base hit: **{ratio('ours hit', 'base hit')}** (target >= 0.95x)"
        )
    if "base 304" in results:
        lines.append(f"- ours 304 vs base 304: **{ratio('ours 304', 'base 304')}**")
    if "cashews" in results and "ours hit" in results:
        lines.append(
            f"- ours hit vs cashews `@cache`: **{ratio('ours hit', 'cashews')}** (target >= 1.3x)"
        )
    if "fastapi-cache2" in results and "ours hit" in results:
        lines.append(
            f"- ours hit vs fastapi-cache2 `@cache`: **{ratio('ours hit', 'fastapi-cache2')}** "
            "(target >= 2x)"
        )
    if "ours 304" in results and "ours hit" in results:
        lines.append(
            f"- ours 304 vs ours hit: **{ratio('ours 304', 'ours hit')}** (target >= 1.0x)"
        )
    if "base hit" in results:
        columns = [("ours hit", "plain", 0), ("base hit", "plain", 0), ("ours hit", "base hit", 0)]
        columns.append(("ours hit", "base hit", 2))
        if "base 304" in results:
            columns += [("ours 304", "base 304", 0), ("ours 304", "base 304", 2)]
        lines += [
            "",
            "Per repeat: throughput ratios (req/s over req/s) and CPU ratios (server CPU per "
            "request over CPU per request: above 1, the first costs more); the load average at "
            "the repeat's start. ours hit / base hit is the hit-to-plain ratio of this tree over "
            "the baseline's (plain cancels out).",
            "",
            "| repeat | load | "
            + " | ".join(f"{a} / {b} {('req/s', '', 'CPU')[f]}" for a, b, f in columns)
            + " |",
            "| ---: | --- | " + " | ".join("---:" for _ in columns) + " |",
        ]
        table = [pairs(a, b, f) for a, b, f in columns]
        for i in range(args.repeats):
            cells = " | ".join(f"{column[i]:.3f}" for column in table)
            lines.append(f"| {i + 1} | {loads[i]} | {cells} |")
    command = (
        f"`.venv/bin/python bench/bench_http_cache.py --repeats {args.repeats} "
        f"--seconds {args.seconds} --connections {args.connections}"
    )
    if args.subjects:
        command += f" --subjects {args.subjects}"
    if old is not None:
        command += f" --baseline {old}"
    command += "`"
    lines += ["", f"Reproduce: {command}."]
    if old is not None:
        lines[-1] = (
            f"Reproduce: `git worktree add {old} {git_describe(old, short=True)}`, copy this "
            f"build's `_core*.so` into {old}/python/cachette/, then {command}."
        )
    if any(name in PEERS for name in names):
        lines.append("The peers need the bench extra: `.venv/bin/pip install -e '.[bench]'`.")
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("http-cache", report)


def git_describe(checkout: pathlib.Path, short: bool = False) -> str:
    """The checkout's commit, and whether its python/ differs from it."""
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if short:
        return commit
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--", "python"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"commit {commit}" + (", python/ with uncommitted changes" if dirty else "")


if __name__ == "__main__":
    main()
