"""Regression tests of issue 11 for the file backend (items 1, 2 and 6): a truncated or
corrupted store never takes the process down, and a store another user could have written is
refused. Scenarios that used to kill the process run in a child process, so that a crash
fails the test instead of the test run."""

from __future__ import annotations

import logging
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from cachette import Cachette, CachetteStorageError

FILL = 3000


def load(path: pathlib.Path, *extra: tuple[str, object]) -> None:
    Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", str(path)), *extra])


async def fill(path: pathlib.Path) -> None:
    load(path)
    cache = Cachette()
    for i in range(FILL):
        await cache.put(f"ns:{i}", "x" * 200, ttl=3600)
    Cachette.load_config(lambda: [])  # closes the store


def zero(path: pathlib.Path, offset: int, size: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\0" * size)


def run_child(script: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def moved_aside(path: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in path.parent.iterdir() if ".damaged-" in p.name and "-lock" not in p.name]


async def test_truncated_store_starts_fresh_with_a_warning_instead_of_sigbus(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.lmdb"
    await fill(path)
    os.truncate(path, 8192)
    child = run_child(f"""
        import asyncio
        from cachette import Cachette
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", {str(path)!r})])
        async def main():
            c = Cachette()
            assert await c.fetch("ns:1") is None
            await c.put("after", "ok")
            assert await c.fetch("after") == "ok"
        asyncio.run(main())
    """)
    assert child.returncode == 0, child.stderr
    assert "was damaged (it is truncated" in child.stderr  # the logged warning
    assert len(moved_aside(path)) == 1


async def test_store_cut_from_64mib_to_1mib_starts_fresh(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.lmdb"
    load(path)
    cache = Cachette()
    for i in range(6000):
        await cache.put(f"k{i}", "v" * 900, ttl=3600)
    Cachette.load_config(lambda: [])
    assert path.stat().st_size >= 64 * 1024 * 1024
    os.truncate(path, 1024 * 1024)
    child = run_child(f"""
        from cachette import Cachette
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", {str(path)!r})])
        assert Cachette.stats()["entries"] == 0
    """)
    assert child.returncode == 0, child.stderr


async def test_zeroed_pages_are_found_at_open_and_clear_namespace_cannot_abort(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.lmdb"
    await fill(path)
    zero(path, 100 * 4096, 256 * 1024)
    with caplog.at_level(logging.WARNING, logger="cachette"):
        load(path)
    assert any("moved to" in r.getMessage() for r in caplog.records)
    assert await Cachette().clear(namespace="ns") == 0
    assert len(moved_aside(path)) == 1


async def test_damage_found_while_open_stops_the_store_with_a_typed_error(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "cache.lmdb"
    child = run_child(f"""
        import asyncio
        from cachette import Cachette, CachetteStorageError
        path = {str(path)!r}
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path)])
        async def main():
            c = Cachette()
            for i in range({FILL}):
                await c.put(f"ns:{{i}}", "x" * 200, ttl=3600)
            with open(path, "r+b") as f:
                f.seek(100 * 4096)
                f.write(b"\\0" * 256 * 1024)
            errors = 0
            for i in range({FILL}):
                try:
                    await c.fetch(f"ns:{{i}}")
                except CachetteStorageError:
                    errors += 1
            assert errors > 0
            for call in (lambda: c.clear(namespace="ns"), lambda: c.put("z", "1"), c.flush):
                try:
                    await call()
                except CachetteStorageError as e:
                    assert "damaged" in str(e)
                else:
                    raise AssertionError("a damaged store kept being used")
        asyncio.run(main())
        # Configuring again moves the damaged store aside and starts afresh.
        Cachette.load_config(lambda: [("backend", "pickle"), ("pickle_path", path)])
        assert Cachette.stats()["entries"] == 0
    """)
    assert child.returncode == 0, child.stderr


async def test_pickle_strict_refuses_a_damaged_store_and_keeps_the_working_cache(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "cache.lmdb"
    await fill(path)
    os.truncate(path, 8192)
    await Cachette().put("kept", "yes")
    with pytest.raises(CachetteStorageError, match="is damaged"):
        load(path, ("pickle_strict", True))
    assert path.stat().st_size == 8192 and not moved_aside(path)
    assert await Cachette().fetch("kept") == "yes"


async def test_store_writable_by_others_is_refused_before_pickle_can_run_code(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "cache.lmdb"
    await fill(path)
    path.chmod(0o666)
    with pytest.raises(CachetteStorageError, match="writable by other users"):
        load(path)


async def test_store_owned_by_another_user_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "cache.lmdb"
    await fill(path)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        with pytest.raises(CachetteStorageError, match="belongs to another user"):
            load(path)
    else:  # only root can give a file away; a group-writable one is refused the same way
        path.chmod(0o620)
        with pytest.raises(CachetteStorageError, match="writable by other users"):
            load(path)


def test_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: pathlib.Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "cache.lmdb"
    (tmp_path / "cache.lmdb-lock").symlink_to(victim)
    with pytest.raises(CachetteStorageError, match="symbolic link"):
        load(path)
    assert victim.read_text() == "precious\n"
