"""``memoize`` never returns another caller's result (DESIGN.md §8, docs/stampede.md).

Its key used to be ``repr()`` of every argument: a FastAPI dependency object has the default
``<X object at 0x...>`` repr and addresses are reused, so alternating two users served one
user's result to the other; a ``Request`` argument gave a new key per call. Now an argument
that cannot be keyed exactly is refused with ``CachetteValueError`` naming it, the user says
how to key it (``key=``, ``ignore=``), and the encoding is injective."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import io
import ipaddress
import json
import os
import pathlib
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy
import pytest
import uvicorn
from backends import BACKEND_PARAMS, BackendSpec
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, PrivateAttr, SecretStr
from starlette.datastructures import Secret, UploadFile

from cachette import Cachette, CachetteValueError, memoize

NETWORK_AND_LOCAL = [p for p in BACKEND_PARAMS if p.id in ("inmemory", "redis", "memcached")]


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` behind a real uvicorn on 127.0.0.1 (a free port), in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:
            yield c
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


class User:
    """A FastAPI dependency as applications write them: no __repr__ of its own."""

    def __init__(self, request: Request) -> None:
        self.name = request.headers["x-user"]


def user_app(**memoize_options: Any) -> tuple[FastAPI, list[str]]:
    app = FastAPI()
    computed: list[str] = []

    @memoize(ttl=60, namespace=f"profiles-{id(computed)}", **memoize_options)
    async def profile(user: User) -> str:
        computed.append(user.name)
        await asyncio.sleep(0)
        return f"private data of {user.name}"

    @app.get("/me", response_class=PlainTextResponse)
    async def me(user: User = Depends()) -> str:
        return await profile(user)

    @memoize(ttl=60, namespace=f"pages-{id(computed)}")
    async def page(request: Request) -> str:
        return f"page for {request.headers['x-user']}"

    @app.get("/page", response_class=PlainTextResponse)
    async def page_view(request: Request) -> str:
        return await page(request)

    @app.exception_handler(CachetteValueError)
    async def refused(request: Request, exc: CachetteValueError) -> JSONResponse:
        return JSONResponse({"refused": str(exc)}, status_code=422)

    return app, computed


@pytest.mark.parametrize("backend", NETWORK_AND_LOCAL, ids=str)
async def test_attack_depends_user_objects_are_refused_not_served_to_another_user(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    settings = [*backend.settings(tmp_path), ("codec", "pickle")]
    Cachette.load_config(lambda: settings)
    app, computed = user_app()
    async with served(app) as client:
        for i in range(10):
            name = ("alice", "bob")[i % 2]
            reply = await client.get("/me", headers={"x-user": name})
            assert reply.status_code == 422, reply.text  # refused, never another's data
            message = reply.json()["refused"]
            assert "argument 'user'" in message and "default repr" in message
            assert "ignore=('user',)" in message and "key=" in message
    assert computed == []  # refused before the function ran


async def test_attack_request_argument_is_refused() -> None:
    app, _ = user_app()
    async with served(app) as client:
        reply = await client.get("/page", headers={"x-user": "alice"})
    assert reply.status_code == 422
    assert "argument 'request'" in reply.json()["refused"]


@pytest.mark.parametrize("backend", NETWORK_AND_LOCAL, ids=str)
async def test_user_supplied_key_isolates_users(
    backend: BackendSpec, tmp_path: pathlib.Path
) -> None:
    settings = [*backend.settings(tmp_path), ("codec", "pickle")]
    Cachette.load_config(lambda: settings)
    suffix = os.urandom(4).hex()
    app, computed = user_app(key=lambda user: f"profile-{suffix}:{user.name}")
    async with served(app) as client:
        for i in range(20):
            name = ("alice", "bob")[i % 2]
            reply = await client.get("/me", headers={"x-user": name})
            assert reply.status_code == 200
            assert reply.text == f"private data of {name}"
    assert sorted(computed) == ["alice", "bob"]  # once per user, then hits
    await Cachette().clear(namespace=f"profile-{suffix}")


async def test_ignore_leaves_an_argument_out_of_the_key() -> None:
    runs: list[int] = []

    class Session:  # default repr: refused unless ignored
        pass

    @memoize(ttl=60, ignore=("db",), namespace="lookup")
    async def lookup(item_id: int, db: Session) -> str:
        runs.append(item_id)
        return f"item {item_id}"

    assert await lookup(1, Session()) == "item 1"
    assert await lookup(1, Session()) == "item 1"  # another session, same key
    assert await lookup(2, Session()) == "item 2"
    assert runs == [1, 2]
    assert "db" not in lookup.key_for(1, Session())  # type: ignore[attr-defined]


def test_ignore_must_name_parameters_and_excludes_key() -> None:
    async def f(a: int) -> int:
        return a

    with pytest.raises(CachetteValueError, match="does not take"):
        memoize(ignore=("b",), namespace="f")(f)
    with pytest.raises(CachetteValueError, match="not both"):
        memoize(key=lambda a: str(a), ignore=("a",))


class Opaque:
    """Text chosen by its author (``__cachette_key__``); keyed with the class's name."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __cachette_key__(self) -> str:
        return self.text


def key_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    key: str = fn.key_for(*args, **kwargs)
    return key


async def test_attack_reprs_holding_separators_do_not_share_a_key() -> None:
    @memoize(namespace="k")
    async def f(x: Any, y: Any) -> None:
        return None

    # "x=1,y=2,y=3" under the old repr join, for both calls
    assert key_of(f, Opaque("1,y=2"), 3) != key_of(f, 1, Opaque("2,y=3"))
    assert key_of(f, "a,b", "c") != key_of(f, "a", "b,c")
    assert key_of(f, ("a", "b"), None) != key_of(f, ["a", "b"], None)
    assert key_of(f, b"ab", None) != key_of(f, "ab", None)


async def test_attack_same_repr_different_types_do_not_share_a_key() -> None:
    @memoize(namespace="k")
    async def f(x: Any) -> None:
        return None

    distinct = [1, 1.0, True, "1", b"1", Opaque("1"), (1,), [1], {1}, frozenset({1}), {1: 1}]
    keys = {key_of(f, v) for v in distinct}
    assert len(keys) == len(distinct)


async def test_attack_dataclass_field_hidden_from_repr_still_keys() -> None:
    @dataclasses.dataclass
    class Query:
        text: str
        tenant: str = dataclasses.field(repr=False)

    class Filter(BaseModel):
        text: str
        tenant: str = Field(repr=False)

    @memoize(namespace="k")
    async def f(q: Any) -> None:
        return None

    assert repr(Query("q", "a")) == repr(Query("q", "b"))
    assert key_of(f, Query("q", "a")) != key_of(f, Query("q", "b"))
    assert repr(Filter(text="q", tenant="a")) == repr(Filter(text="q", tenant="b"))
    assert key_of(f, Filter(text="q", tenant="a")) != key_of(f, Filter(text="q", tenant="b"))


@pytest.mark.parametrize(
    "value, why",
    [
        pytest.param(lambda: None, "exactly", id="lambda"),
        pytest.param([1, object()], "default repr", id="nested-object"),
        pytest.param({"k": User.__init__}, "exactly", id="function-in-dict"),
        pytest.param(numpy.arange(10_000), "exactly", id="numpy-array-summarised"),
    ],
)
async def test_unstable_or_elided_arguments_are_refused_naming_them(value: Any, why: str) -> None:
    runs: list[int] = []

    @memoize(namespace="k")
    async def f(first: int, value: Any) -> None:
        runs.append(first)

    with pytest.raises(CachetteValueError, match=f"argument 'value.*{why}"):
        await f(1, value)
    assert runs == []


def test_keys_are_the_same_in_every_process(tmp_path: pathlib.Path) -> None:
    """Sets and frozensets are keyed in a sorted order: their repr follows str hashing,
    which differs between processes (with these seeds, the two reprs differ)."""
    script = (
        "import json\n"
        "from cachette import memoize\n"
        "@memoize(namespace='ns')\n"
        "async def f(tags, pairs): pass\n"
        "print(f.key_for({'alpha', 'beta', 'gamma', 'delta'}, frozenset({('a', 1), ('b', 2)})))\n"
    )
    keys = set()
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        keys.add(out.stdout.strip())
    assert len(keys) == 1, keys
    reprs = {
        subprocess.run(
            [sys.executable, "-c", "print(repr({'alpha', 'beta', 'gamma', 'delta'}))"],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(reprs) == 2  # what the old repr-based key would have used
    assert json.loads(keys.pop().removeprefix("ns:"))  # plain JSON after the namespace


async def test_key_for_lets_a_caller_clear_one_result() -> None:
    Cachette.load_config(lambda: [("codec", "pickle")])
    runs: list[int] = []

    @memoize(ttl=60, namespace="square")
    async def square(n: int) -> int:
        runs.append(n)
        return n * n

    assert await square(3) == 9
    assert await square(n=3) == 9  # the same bound arguments, the same key
    assert await Cachette().clear(key=square.key_for(3)) == 1  # type: ignore[attr-defined]
    assert await square(3) == 9
    assert runs == [3, 3]


# -- issue 19 follow-up: an allowlist, not reprs (docs/stampede.md "Keys are exact") -----------


class Creds(BaseModel):
    token: SecretStr


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(SecretStr("tok-alice"), SecretStr("tok-bob"), id="pydantic-SecretStr"),
        pytest.param(Creds(token="a"), Creds(token="b"), id="model-with-SecretStr"),
        pytest.param(Secret("alice-key"), Secret("bob-key"), id="starlette-Secret"),
        pytest.param(
            UploadFile(io.BytesIO(b"alice"), filename="d", size=5),
            UploadFile(io.BytesIO(b"bobby"), filename="d", size=5),
            id="UploadFile",
        ),
        pytest.param(numpy.array([0.1234567891]), numpy.array([0.1234567894]), id="numpy-rounded"),
    ],
)
async def test_attack_masked_or_partial_reprs_are_refused_not_shared(
    first: Any, second: Any
) -> None:
    assert repr(first) == repr(second) or "numpy" not in type(first).__module__
    runs: list[int] = []

    @memoize(ttl=60, namespace=f"masked-{os.urandom(4).hex()}")
    async def f(value: Any) -> int:
        runs.append(1)
        return 1

    for value in (first, second):
        with pytest.raises(CachetteValueError, match=r"argument 'value'.*__cachette_key__"):
            await f(value)
    assert runs == []


async def test_attack_class_with_own_repr_is_no_longer_trusted_but_can_opt_in() -> None:
    class Tenant:
        def __init__(self, name: str) -> None:
            self.name = name

        def __repr__(self) -> str:
            return "Tenant()"  # hides the name

    class Keyed(Tenant):
        def __cachette_key__(self) -> str:
            return self.name

    @memoize(namespace="own-repr")
    async def f(t: Any) -> None:
        return None

    with pytest.raises(CachetteValueError, match="argument 't'"):
        key_of(f, Tenant("a"))
    assert key_of(f, Keyed("a")) != key_of(f, Keyed("b"))


async def test_attack_bound_method_keys_its_instance() -> None:
    @dataclasses.dataclass
    class Repo:
        tenant: str

        async def get(self, item: int) -> str:
            return f"{self.tenant} item {item}"

    class Opaque:
        async def get(self, item: int) -> str:
            return "x"

    Cachette.load_config(lambda: [("codec", "pickle")])
    a = memoize(ttl=60, namespace="repo")(Repo("A").get)
    b = memoize(ttl=60, namespace="repo")(Repo("B").get)
    assert await a(1) == "A item 1"
    assert await b(1) == "B item 1"
    with pytest.raises(CachetteValueError, match="argument 'self'"):
        memoize(ttl=60, namespace="opaque")(Opaque().get)
    assert memoize(namespace="o", ignore=("self",))(Opaque().get)


async def test_attack_factory_closures_and_partials_are_refused_at_decoration() -> None:
    def make(tenant: str) -> Any:
        async def load(user_id: int) -> str:
            return f"{tenant} {user_id}"

        return load

    with pytest.raises(CachetteValueError, match="namespace="):
        memoize(ttl=60)(make("A"))
    assert memoize(ttl=60, namespace="tenant-A")(make("A"))

    async def load(item: int, tenant: str) -> str:
        return tenant

    with pytest.raises(CachetteValueError, match="partial"):
        memoize(ttl=60)(functools.partial(load, tenant="A"))


async def test_attack_state_outside_declared_fields_is_refused_or_keyed() -> None:
    class Ctx(BaseModel):
        page: int
        _user: str = PrivateAttr(default="")

    @dataclasses.dataclass
    class Q:
        page: int

    class UserQ(Q):
        def __init__(self, page: int, user: str) -> None:
            super().__init__(page)
            self.user = user

    class Claims(dict):  # type: ignore[type-arg]
        pass

    class Tok(str):
        pass

    @memoize(namespace="state")
    async def f(x: Any) -> None:
        return None

    a, b = Ctx(page=1), Ctx(page=1)
    a._user, b._user = "alice", "bob"
    assert key_of(f, a) != key_of(f, b)  # private attributes are keyed
    for value in (UserQ(1, "alice"), Q(1)):
        if isinstance(value, UserQ):
            with pytest.raises(CachetteValueError, match="outside its fields"):
                key_of(f, value)
    q = Q(1)
    q.user = "alice"  # type: ignore[attr-defined]
    with pytest.raises(CachetteValueError, match="outside its fields"):
        key_of(f, q)
    claims = Claims(r=1)
    assert key_of(f, claims) != key_of(f, {"r": 1})
    claims.user = "alice"  # type: ignore[attr-defined]
    with pytest.raises(CachetteValueError, match="outside its fields"):
        key_of(f, claims)
    tok = Tok("x")
    assert key_of(f, tok) != key_of(f, "x")
    tok.user = "bob"  # type: ignore[attr-defined]
    with pytest.raises(CachetteValueError, match="outside its fields"):
        key_of(f, tok)


async def test_exact_types_are_keyed_by_value() -> None:
    @memoize(namespace="exact")
    async def f(x: Any) -> None:
        return None

    class Color(enum.Enum):
        RED = 1

    values = [
        decimal.Decimal("1"),
        decimal.Decimal("1.0"),
        uuid.UUID(int=1),
        datetime.datetime(2026, 1, 1),
        datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.date(2026, 1, 1),
        datetime.timedelta(1),
        pathlib.PurePosixPath("/a"),
        ipaddress.ip_address("::1"),
        fractions.Fraction(1, 3),
        1 + 2j,
        Color.RED,
        int,
        10**5000,
    ]
    keys = {key_of(f, v) for v in values}
    assert len(keys) == len(values)
    assert len(key_of(f, "x" * 5000)) < 200  # long argument lists are hashed (BLAKE2b-256)
