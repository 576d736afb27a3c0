"""Large bulk replies are received into a buffer of their own (docs/architecture.md): values
around that size, and large replies pipelined between small ones, come back intact."""

from __future__ import annotations

import asyncio
import os

from cachette.backends.redis import create
from cachette.config import CachetteConfig

from .redis_env import require_env


async def test_values_around_the_own_buffer_size_and_pipelined_mixes() -> None:
    backend = create(
        CachetteConfig(backend="redis", redis_url=require_env("CACHETTE_TEST_REDIS_URL"))
    )
    values = {
        f"large:{n}": os.urandom(n)
        for n in (64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300_000, 1 << 20)
    }
    values.update({f"small:{i}": os.urandom(i * 10) for i in range(20)})
    for key, value in values.items():
        await backend.put(key, value, 60_000)
    keys = list(values) * 3
    got = await asyncio.gather(*(backend.fetch(key) for key in keys))  # one pipeline
    assert [len(v) for v in got] == [len(values[k]) for k in keys]
    assert got == [values[k] for k in keys]
    assert await backend.fetch_many(keys[:30]) == [values[k] for k in keys[:30]]
    await backend.close()
