"""Resource attacks: what an attacker can make the cache write, keep or wait for (issue 18,
items 10 and 12; Vary explosion)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from attack_harness import (
    CROSS,
    HUNG_APP_PORT,
    HUNG_REDIS_PORT,
    Server,
    combo_id,
    start_server,
)


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_uncacheable_urls_fill_the_backend(server: Server, token: str) -> None:
    """200 distinct URLs of a page nothing makes storable (no freshness, no validator) leave
    nothing in the backend."""
    before = server.stored(token)
    with httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        for i in range(200):
            assert client.get(f"/plain/{token}/{i}").text == f"plain {token} {i}"
    left = server.stored(token) - before
    assert left <= 0, f"{left} entries left by 200 responses that cannot be reused"


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_vary_explosion_evicts_or_multiplies_entries(server: Server, token: str) -> None:
    """300 made-up Accept-Language values for one page: the victims' variants stay stored
    and correct, and the attacker's requests store at most one entry each."""
    page = f"/lang/{token}"
    before = server.stored(token)
    with httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        victims = {
            lang: client.get(page, headers={"accept-language": lang}) for lang in ("fr", "de")
        }
        assert victims["fr"].text == f"{token} in fr #1"
        for i in range(300):
            client.get(page, headers={"accept-language": f"x-{i}-{token}"})
        added = server.stored(token) - before
        assert added <= 300 + 2 + 1, f"{added} entries for 302 variants"
        for lang, first in victims.items():
            again = client.get(page, headers={"accept-language": lang})
            assert again.text == first.text, "a victim's variant was evicted or replaced"


# -- item 12: a backend that stops answering ---------------------------------------------------

BACKEND_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def hung_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """A private redis-server (which the test stops with SIGSTOP) and a server of the app on
    it, with a backend timeout of BACKEND_TIMEOUT."""
    workdir = tmp_path_factory.mktemp("hung-redis")
    redis = subprocess.Popen(
        [
            *("redis-server", "--port", str(HUNG_REDIS_PORT), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = start_server(
        "httptools",
        HUNG_APP_PORT,
        workdir,
        redis=f"redis://127.0.0.1:{HUNG_REDIS_PORT}/0",
        timeout=str(BACKEND_TIMEOUT),
    )
    try:
        yield server.wait_ready(), redis.pid
    finally:
        os.kill(redis.pid, signal.SIGCONT)
        server.stop()
        redis.terminate()
        redis.wait(10)


def test_attack_hung_backend_multiplies_waits_and_warnings(
    hung_backend: tuple[Server, int], token: str
) -> None:
    """With the backend stopped (SIGSTOP: connections open, no answers), each request waits
    for it at most about one timeout in all (not once per backend call), repeated timeouts
    open a breaker so that later requests do not wait at all, every request still gets the
    app's answer, and the warnings are rate-limited."""
    server, redis_pid = hung_backend
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        assert client.get(f"/item/{token}").status_code == 200  # the backend works
        log_before = server.log_path.read_text().count("http cache")
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            took = []
            for i in range(12):
                started = time.monotonic()
                answer = client.get(f"/item/{token}-{i}")
                took.append(time.monotonic() - started)
                assert (answer.status_code, answer.text) == (200, f"item {token}-{i}")
        finally:
            os.kill(redis_pid, signal.SIGCONT)
    warnings = server.log_path.read_text().count("http cache") - log_before
    problems = []
    if max(took) >= 1.6 * BACKEND_TIMEOUT:
        problems.append("a request waited for the backend more than one timeout")
    if sum(took[-6:]) >= BACKEND_TIMEOUT:
        problems.append("later requests still wait: no breaker after repeated timeouts")
    if warnings > 6:
        problems.append(f"{warnings} warnings logged for 12 requests")
    shown = ", ".join(f"{t:.2f}" for t in took)
    assert not problems, f"{'; '.join(problems)} (seconds per request: {shown})"
