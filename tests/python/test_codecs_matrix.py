"""Every codec on every backend (tests/python/backends.py): the values each codec round-trips,
the values it refuses (CodecError naming the codec and the type, and nothing stored), and
pydantic models in and out."""

from __future__ import annotations

import math
import pathlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backends import BACKEND_PARAMS, BackendSpec
from pydantic import BaseModel

from cachette import Cachette, CachetteError, CodecError

CODECS = ["vanilla", "json", "orjson", "msgpack", "pickle", "csv", "feather", "parquet"]
JSON_LIKE = ["json", "orjson", "msgpack"]
DATAFRAME = ["csv", "feather", "parquet"]

# name -> value; the codecs below pick which of these they must round-trip exactly
SCALARS: dict[str, Any] = {
    "none": None,
    "int": 123,
    "negative_int": -(2**40),
    "float": 3.141592653589793,
    "tiny_float": 1e-300,
    "str": "caché ✓ 漢字",
    "empty_str": "",
    "true": True,
}
CONTAINERS: dict[str, Any] = {
    "dict_str": {"a": "x", "b": "y"},
    "dict_int": {"a": 1, "b": -2},
    "dict_float": {"a": 0.1, "b": 2.5},
    "list": [1, "two", 3.0, None, False],
    "nested": {"users": [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}], "n": {"m": {}}},
    "empty_list": [],
}
BYTES: dict[str, Any] = {
    "bytes": b"\x00\x01\xffbinary",
    "dict_bytes": {"a": b"\x00", "b": b"xyz"},
    "nested_bytes": {"blobs": [b"1", b"2"], "meta": {"k": b""}},
}


def frames() -> dict[str, pd.DataFrame]:
    mixed = pd.DataFrame(
        {
            "i": [1, 2, 3, 4],
            "f": [0.5, np.nan, 1e-9, -2.25],
            "s": ["a", "b", None, "d d"],
            "b": [True, False, True, True],
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "t": pd.to_datetime(
                ["2024-01-01", "2024-02-29 12:30:00", None, "1999-12-31 23:59:59"],
                format="ISO8601",
            ),
        },
        index=pd.Index(["w", "x", "y", "z"], name="key"),
    )
    numbers = pd.DataFrame(
        np.arange(12, dtype="float64").reshape(4, 3) / 7, columns=["a", "b", "c"]
    )
    numbers.iloc[1, 1] = np.nan
    multi = mixed.set_index(["i", "s"])
    return {"mixed_frame": mixed, "numbers_frame": numbers, "multiindex_frame": multi}


def round_trips(codec: str) -> dict[str, Any]:
    """Values that must come back equal and of the same type."""
    if codec in DATAFRAME:
        return dict(frames())
    values = {**SCALARS, **CONTAINERS}
    if codec in ("msgpack", "pickle"):
        values.update(BYTES)
    if codec == "pickle":
        values.update(frames())
        values.update({"tuple": (1, "a"), "set": {1, 2}, "int_keys": {1: "a", 2: "b"}})
    return values


def refused(codec: str) -> dict[str, Any]:
    """Values the codec cannot encode: put raises CodecError and stores nothing."""
    frame = frames()["mixed_frame"]
    if codec in ("json", "orjson"):
        return {**BYTES, "frame": frame, "object": object()}
    if codec == "msgpack":
        return {"frame": frame, "object": object(), "nested_object": {"a": [object()]}}
    if codec == "pickle":
        return {"lambda": lambda: None}
    if codec in DATAFRAME:
        return {"int": 1, "dict": {"a": 1}, "series": frame["i"], "list": [frame]}
    return {}


def same(expected: Any, got: Any) -> None:
    if isinstance(expected, pd.DataFrame):
        assert isinstance(got, pd.DataFrame)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        return
    assert type(got) is type(expected), (expected, got)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
        return
    assert got == expected


class User(BaseModel):
    id: int
    name: str
    tags: list[str] = []


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> BackendSpec:
    spec: BackendSpec = request.param
    return spec


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A namespace of keys unique to this test; removed afterwards on shared servers."""
    namespace = f"matrix-{uuid.uuid4().hex}"
    yield namespace + ":"
    await Cachette().clear(namespace=namespace)


def configure(backend: BackendSpec, codec: str, tmp_path: pathlib.Path) -> None:
    settings = backend.settings(tmp_path)
    Cachette.load_config(lambda: [*settings, ("codec", codec), ("ttl", 600)])


@pytest.mark.parametrize("codec", CODECS)
async def test_round_trip(
    backend: BackendSpec, codec: str, tmp_path: pathlib.Path, prefix: str
) -> None:
    configure(backend, codec, tmp_path)
    cache = Cachette()
    values = round_trips(codec) if codec != "vanilla" else {**SCALARS, **CONTAINERS, **BYTES}
    for name, value in values.items():
        await cache.put(prefix + name, value)
    for name, value in values.items():
        got = await cache.fetch(prefix + name)
        if codec == "vanilla":  # str(value) for every value, bytes included, as 0.1.x
            assert got == str(value), name
            continue
        same(value, got)
        ttl, got_again = await cache.fetch_with_ttl(prefix + name)
        assert 590 <= ttl <= 600
        same(value, got_again)


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "vanilla"])
async def test_unencodable_value_raises_and_stores_nothing(
    backend: BackendSpec, codec: str, tmp_path: pathlib.Path, prefix: str
) -> None:
    configure(backend, codec, tmp_path)
    cache = Cachette()
    for name, value in refused(codec).items():
        key = prefix + name
        with pytest.raises(CodecError) as caught:
            await cache.put(key, value)
        assert isinstance(caught.value, CachetteError)
        message = str(caught.value)
        assert f'"{codec}"' in message, message
        assert type(value).__name__ in message, message
        assert await cache.fetch(key) is None
        assert await cache.fetch_with_ttl(key) == (-1, None)


@pytest.mark.parametrize("codec", JSON_LIKE)
async def test_pydantic_model_in_and_typed_out(
    backend: BackendSpec, codec: str, tmp_path: pathlib.Path, prefix: str
) -> None:
    configure(backend, codec, tmp_path)
    cache = Cachette()
    user = User(id=7, name="Ada", tags=["admin"])
    await cache.put(prefix + "user", user)
    assert await cache.fetch(prefix + "user") == {"id": 7, "name": "Ada", "tags": ["admin"]}
    typed = await cache.fetch(prefix + "user", model=User)
    assert isinstance(typed, User)
    assert typed == user
    ttl, typed_again = await cache.fetch_with_ttl(prefix + "user", model=User)
    assert ttl > 0
    assert typed_again == user
    # models nested in containers are dumped too
    await cache.put(prefix + "team", {"lead": user, "members": [user, user]})
    team = await cache.fetch(prefix + "team")
    assert team["members"][1] == user.model_dump(mode="json")
    # absent keys stay None with a model
    assert await cache.fetch(prefix + "absent", model=User) is None
    assert await cache.fetch_with_ttl(prefix + "absent", model=User) == (-1, None)


async def test_pickle_keeps_models_and_accepts_model_argument(
    backend: BackendSpec, tmp_path: pathlib.Path, prefix: str
) -> None:
    configure(backend, "pickle", tmp_path)
    cache = Cachette()
    user = User(id=1, name="Grace")
    await cache.put(prefix + "user", user)
    assert await cache.fetch(prefix + "user") == user
    assert await cache.fetch(prefix + "user", model=User) == user
