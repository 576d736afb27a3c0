"""Timing attacks and streams: a read that races a write must not bring back the old content
(item 9), one slow variant must not hold up the others (item 11), event streams are not held
back (item 13)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from attack_harness import CROSS, PARSERS, Server, combo_id


async def reads_begun(client: httpx.AsyncClient, server: Server, token: str, count: int) -> None:
    """Waits until the app has begun ``count`` reads of the race page (at most 5 s)."""
    deadline = time.monotonic() + 5.0
    while (await client.get(server.url(f"/__reads/{token}"))).text != str(count):
        assert time.monotonic() < deadline, f"the app did not begin read {count}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
async def test_attack_read_racing_a_write_stores_old_content(server: Server, token: str) -> None:
    """A GET that began before a POST changed the page (and invalidated it) finishes after
    the POST: its old answer must not be stored. Reads that begin after the POST returned
    get the new content."""
    page = server.url(f"/race/{token}")
    async with httpx.AsyncClient(timeout=15.0) as client:
        early = asyncio.create_task(client.get(page))  # reads "old", answers 0.6 s later
        await reads_begun(client, server, token, 1)
        written = await client.post(page, content=b"new")
        assert written.status_code == 200
        during = asyncio.create_task(client.get(page))  # starts while the early GET runs
        assert (await early).text == "old"
        assert (await during).text == "new"
        after = await client.get(page)
        assert after.text == "new", "the old content was stored after the write"


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
async def test_attack_background_refresh_racing_a_write_stores_old_content(
    server: Server, token: str
) -> None:
    """Same race with a stale-while-revalidate refresh: the refresh began before the write,
    so what it brings back must not be stored."""
    page = server.url(f"/race-swr/{token}")
    async with httpx.AsyncClient(timeout=15.0) as client:
        assert (await client.get(page)).text == "old"  # max-age=1, swr=60
        await asyncio.sleep(1.2)
        stale = await client.get(page)  # served stale, starts the refresh (reads "old")
        assert stale.text == "old"
        await reads_begun(client, server, token, 2)
        assert (await client.post(page, content=b"new")).status_code == 200
        first = await client.get(page)
        await asyncio.sleep(0.8)  # the refresh has finished by now
        later = await client.get(page)
        assert (first.text, later.text) == ("new", "new")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
async def test_attack_slow_variant_holds_up_other_variants(server: Server, token: str) -> None:
    """Requests for different Vary variants of one URL do not wait for each other: once the
    page is known to vary (one language stored), four other languages of a page that takes
    0.6 s are answered in about 0.6 s, not 1.2 s."""
    page = server.url(f"/lang/{token}?delay=0.6")
    async with httpx.AsyncClient(timeout=15.0) as client:
        await client.get(page, headers={"accept-language": "en"})
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.get(page, headers={"accept-language": lang}) for lang in "de fr it es".split())
        )
        elapsed = time.monotonic() - started
    assert sorted(a.text.split(" #")[0] for a in answers) == sorted(
        f"{token} in {lang}" for lang in "de fr it es".split()
    )
    assert elapsed < 1.0, f"four variants took {elapsed:.2f} s: they waited for each other"


def first_event_delay(server: Server, target: str) -> tuple[float, bytes]:
    """Seconds until the first event arrives, and what arrived."""
    request = f"GET {target} HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as sock:
        started = time.monotonic()
        sock.sendall(request.encode())
        received = b""
        while b"data: first" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return time.monotonic() - started, received


@pytest.mark.parametrize("server", [*PARSERS, ("httptools", "redis")], ids=combo_id, indirect=True)
@pytest.mark.parametrize("cache_control", ["", "no-cache", "public, max-age=60"])
def test_event_stream_is_not_held_back(server: Server, token: str, cache_control: str) -> None:
    """Server-sent events reach the client as they are sent (the second event comes 1.5 s
    after the first), whatever the stream's Cache-Control."""
    target = f"/events/{token}?cc={cache_control.replace(' ', '%20').replace(',', '%2C')}"
    delay, received = first_event_delay(server, target)
    assert b"data: first" in received
    assert delay < 1.0, f"the first event took {delay:.2f} s: the stream was buffered"
