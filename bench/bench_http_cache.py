"""HTTP response caching on Redis: wrk against uvicorn on 127.0.0.1, one run, interleaved.

Subjects, each its own uvicorn process (one worker, same FastAPI endpoint returning a ~1 KB
JSON document, same private redis-server):
  plain           the endpoint without any cache (the baseline)
  ours hit        cachette.http.HttpCache + @cache_response(ttl=...), answered from Redis
  ours 304        the same, the client sending If-None-Match: answered 304 from Redis
  cashews         cashews @cache on the endpoint
  fastapi-cache2  fastapi-cache2 @cache on the endpoint
Every repeat runs every subject once, in turn; the table shows medians over the repeats.

    .venv/bin/python bench/bench_http_cache.py [--repeats 3] [--seconds 5] [--connections 16]
        [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
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


@contextlib.contextmanager
def app_server(target: str, redis_url: str) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = dict(os.environ, BENCH_REDIS_URL=redis_url)
    cmd = [sys.executable, "-m", "uvicorn", f"_http_cache_apps:{target}", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=HERE, env=env)
    try:
        wait_for_port(port, proc, f"uvicorn {target}")
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    targets = {
        "plain": "plain",
        "ours": "ours",
        "cashews": "cashews_app",
        "fastapi-cache2": "fastapi_cache2_app",
    }
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server())
        servers = {
            name: stack.enter_context(app_server(t, redis_url)) for name, t in targets.items()
        }
        ports = {name: server[0] for name, server in servers.items()}
        for name, port in ports.items():  # fill each cache; check that the hits are hits
            fetch(port)
            status, headers = fetch(port)
            assert status == 200, (name, status)
        _, first = fetch(ports["ours"])
        etag = first.get("etag") or first.get("ETag")
        assert etag and "age" in {k.lower() for k in first}, first
        assert fetch(ports["ours"], {"If-None-Match": etag})[0] == 304
        subjects = [
            ("plain", servers["plain"], {}),
            ("ours hit", servers["ours"], {}),
            ("ours 304", servers["ours"], {"If-None-Match": etag}),
            ("cashews", servers["cashews"], {}),
            ("fastapi-cache2", servers["fastapi-cache2"], {}),
        ]
        for _, server, headers in subjects:  # warm-up, not counted
            wrk(server, 1, args.connections, headers)
        results: dict[str, list[tuple[float, float, float]]] = {n: [] for n, _, _ in subjects}
        for repeat in range(args.repeats):
            for name, server, headers in subjects:
                results[name].append(wrk(server, args.seconds, args.connections, headers))
                done, _, cpu = results[name][-1]
                print(f"repeat {repeat + 1} {name:15} {done:8.0f} req/s {cpu:7.1f} us", flush=True)

    rps = {name: median([r[0] for r in runs]) for name, runs in results.items()}
    p50 = {name: median([r[1] for r in runs]) for name, runs in results.items()}
    cpu = {name: median([r[2] for r in runs]) for name, runs in results.items()}

    def ratio(a: str, b: str) -> str:
        """Throughput of a over b: the median of the per-repeat ratios (each repeat runs the
        subjects back to back, so a ratio compares runs under the same machine load), and the
        ratio of the servers' CPU time per request (b / a: higher is better for a)."""
        pairs = [ra[0] / rb[0] for ra, rb in zip(results[a], results[b], strict=True)]
        return f"{median(pairs):.2f}x req/s, {cpu[b] / cpu[a]:.2f}x CPU/request"

    lines = [
        "## HTTP response cache on Redis (`bench/bench_http_cache.py`)",
        "",
        f"{machine()}; wrk -t1 -c{args.connections}, {args.seconds} s per run, "
        f"{args.repeats} interleaved repeats, medians; one uvicorn worker per subject; "
        "GET of a ~1 KB JSON document from a FastAPI endpoint; one private redis-server.",
        "",
        "| subject | req/s | p50 latency (ms) | server CPU per request (us) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, _, _ in subjects:
        lines.append(f"| {name} | {rps[name]:,.0f} | {p50[name]:.2f} | {cpu[name]:.0f} |")
    lines += [
        "",
        "Ratios: throughput as the median of per-repeat ratios (runs back to back under the same "
        "load), and server CPU time per request (uvicorn process; Redis excluded).",
        "",
        f"- ours hit vs plain endpoint: **{ratio('ours hit', 'plain')}** (target >= 1.0x)",
        f"- ours hit vs cashews `@cache`: **{ratio('ours hit', 'cashews')}** (target >= 1.3x)",
        f"- ours hit vs fastapi-cache2 `@cache`: **{ratio('ours hit', 'fastapi-cache2')}** "
        "(target >= 2x)",
        f"- ours 304 vs ours hit: **{ratio('ours 304', 'ours hit')}** (target >= 1.0x)",
        "",
        "Reproduce: `.venv/bin/pip install -e '.[bench]'` then "
        f"`.venv/bin/python bench/bench_http_cache.py --repeats {args.repeats} "
        f"--seconds {args.seconds} --connections {args.connections}`.",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("http-cache", report)


if __name__ == "__main__":
    main()
