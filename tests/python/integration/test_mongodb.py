"""The MongoDB backend against SecantusDB (started by scripts/services.sh), and against a real
mongod too whenever CACHETTE_TEST_MONGODB_URL is set.

A missing server address fails the test (never a skip): run through scripts/with-services.sh.
What the documents look like on the server is checked with pymongo, from SecantusDB's own
environment (CACHETTE_TEST_SECANTUS_PYTHON), so the package's tests need no MongoDB driver.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cachette import Cachette
from cachette.backends.mongodb import MongoBackend, connect
from cachette.exceptions import (
    CachetteAuthError,
    CachetteConnectionError,
    CachetteTimeoutError,
    CachetteValueTooLargeError,
)

pytestmark = pytest.mark.integration

SERVERS = ["secantusdb"] + (["mongod"] if os.environ.get("CACHETTE_TEST_MONGODB_URL") else [])


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/with-services.sh")
    return value


@pytest.fixture(params=SERVERS)
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "mongod":
        return env("CACHETTE_TEST_MONGODB_URL")
    return env("CACHETTE_TEST_SECANTUS_URL")


@pytest.fixture
def collection() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def use(url: str, collection: str, *extra: tuple[str, object]) -> None:
    Cachette.load_config(
        lambda: [
            ("backend", "mongodb"),
            ("mongodb_url", url),
            ("table_name", collection),
            ("ttl", 120),
            *extra,
        ]
    )


@pytest.fixture
async def backend(url: str, collection: str) -> AsyncIterator[MongoBackend]:
    b = MongoBackend(connect(url, "cachette-db", collection), "cachette-db", collection)
    yield b
    await b.flush()
    await b.close()


def pymongo(url: str, collection: str, code: str) -> Any:
    """Runs `code` with `coll` bound to the collection (pymongo); returns what it assigns to
    `out`, through JSON (dates as epoch ms, binaries as latin-1 text)."""
    script = f"""
import datetime, json, sys
from bson import Binary
from pymongo import MongoClient
client = MongoClient({url!r}, serverSelectionTimeoutMS=10000, tz_aware=True)
coll = client["cachette-db"][{collection!r}]
out = None
{code}
def plain(v):
    if isinstance(v, dict): return {{k: plain(x) for k, x in v.items()}}
    if isinstance(v, list): return [plain(x) for x in v]
    if isinstance(v, datetime.datetime): return {{"$date": int(v.timestamp() * 1000)}}
    if isinstance(v, bytes): return {{"$binary": v.decode("latin-1")}}
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
print(json.dumps(plain(out)))
"""
    done = subprocess.run(
        [env("CACHETTE_TEST_SECANTUS_PYTHON"), "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_put_fetch_ttl_clear_flush_through_cachette(url: str, collection: str) -> None:
    use(url, collection)
    cache = Cachette()
    await cache.put("plain", "v")
    assert await cache.fetch("plain") == "v"
    ttl, value = await cache.fetch_with_ttl("plain")
    assert value == "v" and 118 <= ttl <= 120
    assert await cache.fetch("absent") is None
    assert await cache.fetch_with_ttl("absent") == (-1, None)
    assert await cache.clear(key="plain") == 1
    assert await cache.clear(key="plain") == 0
    assert await cache.fetch("plain") is None
    # Regular-expression characters in a namespace are literal, and only the prefix matches.
    for key in ("a.b*:1", "a.b*:2", "aXbb:3", "xa.b*:4", "a.b*"):
        await cache.put(key, key)
    assert await cache.clear(namespace="a.b*") == 2
    assert await cache.fetch("aXbb:3") == "aXbb:3"
    assert await cache.fetch("xa.b*:4") == "xa.b*:4"
    assert await cache.fetch("a.b*") == "a.b*"
    assert await cache.flush() == 3
    assert await cache.fetch("aXbb:3") is None
    assert await cache.flush_expired() == 0


async def test_documents_are_one_per_key_with_a_ttl_index(
    url: str, collection: str, backend: MongoBackend
) -> None:
    before = int(time.time() * 1000)
    await backend.put("user:1", b"\x00\xffvalue", 60_000)
    await backend.put("forever", b"f", 0)
    seen = pymongo(
        url,
        collection,
        "out = {'docs': list(coll.find({}, sort=[('_id', 1)])),"
        " 'indexes': list(coll.list_indexes())}",
    )
    docs = seen["docs"]
    assert [d["_id"] for d in docs] == ["forever", "user:1"]
    assert docs[0] == {"_id": "forever", "value": {"$binary": "f"}}
    assert docs[1]["value"] == {"$binary": "\x00\xffvalue"}
    assert before + 60_000 <= docs[1]["expires"]["$date"] <= int(time.time() * 1000) + 60_000
    ttl_indexes = [i for i in seen["indexes"] if i.get("key") == {"expires": 1}]
    assert len(ttl_indexes) == 1
    assert ttl_indexes[0]["expireAfterSeconds"] == 0


async def test_documents_of_0_1_x_break_nothing(
    url: str, collection: str, backend: MongoBackend
) -> None:
    # 0.1.x stored {key, value, expires: epoch seconds} under a generated ObjectId.
    now = int(time.time())
    pymongo(
        url,
        collection,
        "coll.insert_many(["
        f"{{'key': 'old:live', 'value': b'x', 'expires': {now + 600}}},"
        f"{{'key': 'old:dead', 'value': b'y', 'expires': {now - 600}}},"
        f"{{'key': 'plain', 'value': 'text', 'expires': {now + 600}}}])",
    )
    await backend.put("old:live", b"new", 60_000)
    assert await backend.fetch("old:live") == b"new"
    assert await backend.fetch("plain") is None
    assert await backend.clear_namespace("old") == 1  # ours only
    assert await backend.flush_expired() == 1  # the expired 0.1.x document
    left = pymongo(url, collection, "out = sorted(d['key'] for d in coll.find({}))")
    assert left == ["old:live", "plain"]
    assert await backend.flush() == 2


async def test_expired_entries_are_missing_before_the_server_reclaims_them(
    backend: MongoBackend,
) -> None:
    await backend.put("short", b"s", 300)
    await backend.put("ns:short", b"s", 300)
    await asyncio.sleep(0.5)
    assert await backend.fetch("short") is None
    assert await backend.fetch_with_ttl("short") is None
    assert await backend.clear_key("short") == 0
    assert await backend.clear_namespace("ns") == 0
    assert await backend.add("short", b"again", 60_000) is True
    assert await backend.fetch("short") == b"again"
    await backend.put("short2", b"s", 300)
    await asyncio.sleep(0.5)
    assert await backend.flush_expired() == 1


async def test_lock_and_bulk_primitives(backend: MongoBackend) -> None:
    assert await backend.add("lock", b"owner-1", 60_000) is True
    assert await backend.add("lock", b"owner-2", 60_000) is False
    assert await backend.clear_if_equal("lock", b"owner-2") is False
    assert await backend.fetch("lock") == b"owner-1"
    assert await backend.clear_if_equal("lock", b"owner-1") is True
    assert await backend.fetch("lock") is None
    await backend.put_many([("m:1", b"1"), ("m:2", b"2"), ("m:3", b"")], 60_000)
    assert await backend.fetch_many(["m:3", "nope", "m:1", "m:1"]) == [b"", None, b"1", b"1"]
    assert await backend.fetch_many([]) == []


async def test_concurrent_operations_each_get_their_own_answer(backend: MongoBackend) -> None:
    keys = [f"c:{i}" for i in range(300)]
    await asyncio.gather(*(backend.put(k, k.encode(), 60_000) for k in keys))
    got = await asyncio.gather(*(backend.fetch(k) for k in [*keys, "c:absent"]))
    assert got == [k.encode() for k in keys] + [None]
    with_ttl = await asyncio.gather(*(backend.fetch_with_ttl(k) for k in keys[:50]))
    assert all(v is not None and v[1] == k.encode() for k, v in zip(keys, with_ttl, strict=False))
    removed = await asyncio.gather(*(backend.clear_key(k) for k in keys[:100]))
    assert sum(removed) == 100
    assert await backend.clear_namespace("c") == 200


async def test_any_string_key_round_trips(backend: MongoBackend) -> None:
    keys = ["with space", "nul\0byte", "unicode-é€😀", "k" * 5000, "$dollar", "dot.ted", "^[.*]"]
    for key in keys:
        await backend.put(key, key.encode(), 60_000)
    for key in keys:
        assert await backend.fetch(key) == key.encode(), key
    assert await backend.clear_namespace("^[.*]") == 0
    assert await backend.clear_namespace("nul\0byte"[:3]) == 0  # "nul" + ":" matches nothing
    await backend.put("nul\0:x", b"1", 60_000)
    assert await backend.clear_namespace("nul\0") == 1


async def test_value_over_the_document_limit_is_refused_and_nothing_written(
    backend: MongoBackend,
) -> None:
    with pytest.raises(CachetteValueTooLargeError, match="16 MiB"):
        await backend.put("big", b"x" * (16 * 1024 * 1024), 60_000)
    assert await backend.fetch("big") is None


async def test_unreachable_server_fails_within_the_timeout() -> None:
    port = env("CACHETTE_TEST_MONGODB_SPARE_PORT")
    client = connect(f"mongodb://127.0.0.1:{port}", timeout=0.5, connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises((CachetteConnectionError, CachetteTimeoutError)) as caught:
        await client.get("k")
    assert time.monotonic() - started < 2.0
    assert f"127.0.0.1:{port}" in str(caught.value)
    client.close()


async def test_fail_open_turns_an_unreachable_server_into_misses() -> None:
    port = env("CACHETTE_TEST_MONGODB_SPARE_PORT")
    Cachette.load_config(
        lambda: [
            ("backend", "mongodb"),
            ("mongodb_url", f"mongodb://127.0.0.1:{port}"),
            ("timeout", 0.3),
            ("fail_open", True),
        ]
    )
    cache = Cachette()
    assert await cache.fetch("k") is None
    assert await cache.fetch_with_ttl("k") == (-1, None)


async def test_scram_credentials(collection: str) -> None:
    use(env("CACHETTE_TEST_SECANTUS_AUTH_URL"), collection)
    cache = Cachette()
    await cache.put("k", "v")
    assert await cache.fetch("k") == "v"
    assert await cache.flush() == 1
    wrong = env("CACHETTE_TEST_SECANTUS_AUTH_WRONG_URL")
    client = connect(wrong, "cachette-db", collection)
    with pytest.raises(CachetteAuthError) as caught:
        await client.get("k")
    assert "not-the-password" not in str(caught.value)
    client.close()


async def test_tls_with_the_configured_files(collection: str) -> None:
    use(
        env("CACHETTE_TEST_SECANTUS_TLS_URL"),
        collection,
        ("tls_ca_file", env("CACHETTE_TEST_SECANTUS_TLS_CA")),
        ("tls_cert_file", env("CACHETTE_TEST_SECANTUS_TLS_CERT")),
        ("tls_key_file", env("CACHETTE_TEST_SECANTUS_TLS_KEY")),
    )
    cache = Cachette()
    await cache.put("k", "over tls")
    assert await cache.fetch("k") == "over tls"
    assert await cache.flush() == 1


def _child_round_trip(url: str, collection: str) -> None:
    async def run() -> None:
        use(url, collection)
        cache = Cachette()
        assert await cache.fetch("from-parent") == "p"
        await cache.put("from-child", "c")

    asyncio.run(run())


async def test_a_forked_worker_gets_a_client_of_its_own(url: str, collection: str) -> None:
    import multiprocessing

    use(url, collection)
    cache = Cachette()
    await cache.put("from-parent", "p")
    child = multiprocessing.get_context("fork").Process(
        target=_child_round_trip, args=(url, collection)
    )
    child.start()
    await asyncio.get_running_loop().run_in_executor(None, child.join, 60)
    assert child.exitcode == 0
    assert await cache.fetch("from-child") == "c"
    assert await cache.flush() == 2


def test_fastapi_app_with_the_0_1_x_configuration(collection: str) -> None:
    from fastapi import Depends, FastAPI
    from fastapi.responses import PlainTextResponse
    from fastapi.testclient import TestClient

    # The 0.1.x README's MongoDB settings, with the private test server's address.
    url = env("CACHETTE_TEST_SECANTUS_URL")
    Cachette.load_config(
        lambda: [("backend", "mongodb"), ("mongodb_url", url), ("table_name", collection)]
    )
    app = FastAPI()

    @app.put("/{key}", response_class=PlainTextResponse)
    async def setter(key: str, value: str, cachette: Cachette = Depends()) -> str:
        await cachette.put(key, value)
        return "OK"

    @app.get("/{key}", response_class=PlainTextResponse)
    async def getter(key: str, cachette: Cachette = Depends()) -> str:
        return str(await cachette.fetch(key))

    with TestClient(app) as client:
        assert client.put("/greeting", params={"value": "hello"}).text == "OK"
        assert client.get("/greeting").text == "hello"
        assert client.get("/absent").text == "None"
