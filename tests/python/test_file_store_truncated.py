"""A store file truncated while processes have it mapped (issue 19, item 8).

Before, the next access past the new end of the file killed the process with SIGBUS. Now the
operation that meets it raises CachetteStorageError, the process lives on, and the next
operation opens the store again (the cut file moved aside). The process under test is a child
with Python's faulthandler enabled (as under pytest: the store's handler must pass foreign
faults on to it, and keep its own); this test truncates the file from outside it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, faulthandler, json, sys
faulthandler.enable()
from cachette import Cachette, CachetteStorageError

path = sys.argv[1]

@Cachette.load_config
def config():
    return [("backend", "pickle"), ("pickle_path", path)]

async def main():
    cache = Cachette()
    for i in range(2000):
        await cache.put(f"k:{i}", "v" * 2000)
    print("ready", flush=True)
    sys.stdin.readline()  # the parent truncates the file meanwhile
    out = {}
    try:
        await cache.fetch("k:1")
        out["first"] = "no error"
    except CachetteStorageError as error:
        out["first"] = type(error).__name__
        out["message"] = str(error)
    out["second"] = await cache.fetch("k:1")
    await cache.put("after", "x")
    out["after"] = await cache.fetch("after")
    print(json.dumps(out), flush=True)

asyncio.run(main())
"""

REOPEN = r"""
import asyncio, sys
from cachette import Cachette

@Cachette.load_config
def config():
    return [("backend", "pickle"), ("pickle_path", sys.argv[1])]

print(asyncio.run(Cachette().fetch("after")))
"""


def test_sigbus_truncated_store_file_raises_storage_error_and_the_process_lives() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cache.lmdb"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        path.write_bytes(b"")  # truncates the mapped file to 0 bytes, from another process
        child.stdin.write("go\n")
        child.stdin.flush()
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, f"child died ({child.returncode}): {stderr[-2000:]}"
        out = json.loads(stdout.strip().splitlines()[-1])
        assert out["first"] == "CachetteStorageError", out
        assert "SIGBUS" in out["message"], out
        assert out["second"] is None and out["after"] == "x", out
        assert "Fatal Python error" not in stderr, stderr  # faulthandler never saw it
        assert len(list(Path(directory).glob("cache.lmdb.damaged-*"))) == 2  # data + lock
        # A process opening the store afterwards finds the fresh store the child reopened.
        reopened = subprocess.run(
            [sys.executable, "-c", REOPEN, str(path)], capture_output=True, text=True, timeout=60
        )
        assert reopened.returncode == 0, reopened.stderr[-2000:]
        assert reopened.stdout.strip() == "x"
