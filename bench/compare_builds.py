"""Our facade's hot path, this build against another checkout's, side by side in one run:
in-memory, Redis and memcached (private servers on 127.0.0.1), builds interleaved round by
round, medians of the per-round ratios new ÷ old.

    .venv/bin/python bench/compare_builds.py OLD_CHECKOUT [--rounds 5] [--only redis ...]

OLD_CHECKOUT must have its extension built into python/cachette/ (for instance
``cmake -S OLD -B OLD/build/py -G Ninja -DCACHETTE_BUILD_PYTHON=ON -DCACHETTE_BUILD_TESTS=OFF
-DCMAKE_BUILD_TYPE=Release`` then ``cmake --build OLD/build/py --target _core`` and a copy of
the module). Each run is bench/bench_facade_hot_path.py, 20,000 operations, 3 repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import statistics
import subprocess
import sys
from collections.abc import Iterator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_memcached import start_server
from bench_redis import free_port, private_server

HERE = pathlib.Path(__file__).resolve().parent


@contextlib.contextmanager
def private_memcached() -> Iterator[int]:
    port = free_port()
    server = start_server(port)  # bench_memcached's: waits until it answers
    try:
        yield port
    finally:
        server.terminate()
        server.wait()


def run(old: pathlib.Path | None, backend: str, setting: str) -> dict[str, float]:
    script = [str(HERE / "bench_facade_hot_path.py"), backend, setting, "--repeats", "3"]
    prefix = [] if old is None else [str(HERE / "_run_other_build.py"), str(old / "python")]
    out = subprocess.run(
        [sys.executable, *prefix, *script], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=pathlib.Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="*", choices=["inmemory", "redis", "memcached"])
    args = parser.parse_args()
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    with private_server("redis-server") as redis_port, private_memcached() as memcached_port:
        settings = {
            "inmemory": "",
            "redis": f"redis://127.0.0.1:{redis_port}/0",
            "memcached": f"127.0.0.1:{memcached_port}",
        }
        for round_ in range(args.rounds):
            for backend, setting in settings.items():
                if args.only and backend not in args.only:
                    continue
                for which, root in (("old", args.old), ("new", None)):
                    for metric, value in run(root, backend, setting).items():
                        samples.setdefault((backend, metric), {"old": [], "new": []})[which].append(
                            value
                        )
            print(f"round {round_ + 1} of {args.rounds} done", flush=True)
    print("| backend | operation | old µs/op | new µs/op | new ÷ old |")
    print("|---|---|---:|---:|---:|")
    for (backend, metric), d in samples.items():
        ratio = statistics.median(n / o for n, o in zip(d["new"], d["old"], strict=True))
        print(
            f"| {backend} | {metric} | {statistics.median(d['old']):.3f} "
            f"| {statistics.median(d['new']):.3f} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
