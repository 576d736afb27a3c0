"""Codec objects on their own: the fast and complete paths agree, decode errors, the csv
codec's dtype handling and limits, and a missing library failing at load_config."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pandas as pd
import pydantic
import pytest

from cachette import Cachette, CodecError
from cachette.codecs import CODEC_MODULES, load_codec
from cachette.config import CODECS

ALL = sorted(CODEC_MODULES)


def test_every_configurable_codec_is_registered() -> None:
    assert sorted(CODECS) == ALL


@pytest.mark.parametrize("name", ALL)
def test_decoding_garbage_raises_codec_error(name: str) -> None:
    codec = load_codec(name)
    garbage = b"\x93\xff{not what this codec wrote"
    if name == "vanilla":  # any bytes are text to vanilla
        assert codec.decode(garbage) == garbage.decode("utf-8", "surrogateescape")
        return
    with pytest.raises(CodecError, match=f'"{name}" codec cannot decode'):
        codec.decode(garbage)


@pytest.mark.parametrize("name", ["json", "orjson", "msgpack", "pickle"])
def test_fast_and_complete_paths_agree(name: str) -> None:
    codec = load_codec(name)
    value = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert codec.raw_decode(codec.raw_encode(value)) == value
    assert codec.decode(codec.encode(value)) == value
    assert codec.decode(codec.raw_encode(value)) == value


async def test_vanilla_falls_back_for_text_that_is_not_utf8() -> None:
    Cachette.load_config(lambda: [("codec", "vanilla")])
    cache = Cachette()
    await cache.put("raw", b"\xffabc")  # str(value) for bytes too, as 0.1.x
    assert await cache.fetch("raw") == "b'\\xffabc'"
    await cache.put("raw", "\udcffabc")  # a surrogate escape stores the byte it stands for
    escaped = await cache.fetch("raw")
    assert escaped == "\udcffabc"
    await cache.put("again", escaped)  # the same bytes go back in
    assert await cache.fetch("again") == escaped
    codec = load_codec("vanilla")
    assert codec.encode(escaped) == b"\xffabc"
    with pytest.raises(CodecError, match='"vanilla"'):
        codec.encode("\ud800")  # a lone surrogate has no bytes


class Point(pydantic.BaseModel):
    x: int
    y: int


async def test_orjson_model_goes_through_the_complete_encoder() -> None:
    codec = load_codec("orjson")
    with pytest.raises(TypeError):
        codec.raw_encode(Point(x=1, y=2))  # the fast path refuses models...
    assert codec.encode(Point(x=1, y=2)) == b'{"x":1,"y":2}'  # ...the complete one dumps them
    Cachette.load_config(lambda: [("codec", "orjson")])
    await Cachette().put("p", Point(x=1, y=2))
    assert await Cachette().fetch("p", model=Point) == Point(x=1, y=2)


def test_msgpack_packers_are_per_thread() -> None:
    codec = load_codec("msgpack")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                value = {"thread": n, "i": i, "blob": bytes([n]) * (i % 50)}
                assert codec.raw_decode(codec.raw_encode(value)) == value
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_msgpack_keeps_non_str_keys() -> None:
    codec = load_codec("msgpack")
    value = {1: "a", 2.5: "b", b"k": "c"}
    assert codec.decode(codec.encode(value)) == value


def test_json_limits_are_as_documented() -> None:
    codec = load_codec("json")
    assert codec.decode(codec.encode((1, 2))) == [1, 2]
    assert codec.decode(codec.encode({1: "a"})) == {"1": "a"}
    orjson = load_codec("orjson")
    with pytest.raises(CodecError, match='"orjson"'):
        orjson.encode({1: "a"})
    with pytest.raises(CodecError, match='"orjson"'):
        orjson.encode(2**70)


# -- csv --------------------------------------------------------------------------------


def csv_round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    codec = load_codec("csv")
    out: pd.DataFrame = codec.decode(codec.encode(frame))
    return out


def test_csv_keeps_dtypes_that_inference_would_change() -> None:
    frame = pd.DataFrame(
        {
            "zip": pd.array(["00501", "10001", "99950"], dtype="str"),  # numeric-looking text
            "obj": pd.array(["NA", "null", "nan"], dtype=object),  # words pandas reads as NaN
            "small": np.array([1, 2, 3], dtype="int8"),
            "f32": np.array([0.5, 1.25, -2.0], dtype="float32"),
            "u": np.array([1, 2, 2**63], dtype="uint64"),
            "nb": pd.array([True, None, False], dtype="boolean"),
            "cat": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "mid", "hi"], ordered=True),
            "icat": pd.Categorical([10, 20, None]),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "tz": pd.to_datetime(["2024-03-31 01:00", "2024-03-31 03:00", None]).tz_localize(
                "Europe/Paris"
            ),
        },
        index=pd.Index([3, 1, 2], name="id"),
    )
    pd.testing.assert_frame_equal(csv_round_trip(frame), frame, check_exact=True)


def test_csv_keeps_indexes_and_column_names() -> None:
    dates = pd.DatetimeIndex(["2024-01-01", "2024-01-02"], name="day")
    frame = pd.DataFrame({1: [1.5, 2.5], "b": ["x", "y"]}, index=dates)
    frame.columns.name = "field"
    pd.testing.assert_frame_equal(csv_round_trip(frame), frame, check_exact=True)
    ranged = pd.DataFrame(np.eye(3), index=pd.RangeIndex(10, 16, 2, name="r"))
    out = csv_round_trip(ranged)
    pd.testing.assert_frame_equal(out, ranged, check_exact=True)
    assert isinstance(out.index, pd.RangeIndex) and isinstance(out.columns, pd.RangeIndex)
    multi = pd.DataFrame(
        {"v": [1, 2, 3]},
        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["k", None]),
    )
    pd.testing.assert_frame_equal(csv_round_trip(multi), multi, check_exact=True)
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    pd.testing.assert_frame_equal(csv_round_trip(empty), empty, check_exact=True)


def test_csv_floats_are_exact() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=500) * 10.0 ** rng.integers(-300, 300, 500)})
    frame.loc[7, "x"] = np.nan
    frame.loc[8, "x"] = np.inf
    pd.testing.assert_frame_equal(csv_round_trip(frame), frame, check_exact=True)


def test_csv_limits() -> None:
    # documented: an empty string comes back as NaN; object values come back as str
    frame = pd.DataFrame({"s": pd.array(["", "a"], dtype="str"), "o": [1, "a"]})
    out = csv_round_trip(frame)
    assert pd.isna(out.loc[0, "s"]) and out.loc[1, "s"] == "a"
    assert out["o"].tolist() == ["1", "a"]
    codec = load_codec("csv")
    for bad in (
        pd.DataFrame({"c": [1 + 2j]}),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
        pd.DataFrame({("tuple", "name"): [1]}),
    ):
        with pytest.raises(CodecError, match='"csv" codec cannot encode a value of type'):
            codec.encode(bad)


# -- missing libraries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "module", "extra"),
    [
        ("orjson", "orjson", "orjson"),
        ("msgpack", "msgpack", "msgpack"),
        ("csv", "pandas", "dataframe"),
        ("feather", "pyarrow", "dataframe"),
        ("parquet", "pyarrow", "dataframe"),
    ],
)
def test_missing_library_fails_at_load_config_with_install_command(
    monkeypatch: pytest.MonkeyPatch, codec: str, module: str, extra: str
) -> None:
    codec_module = CODEC_MODULES[codec][0]
    monkeypatch.delitem(sys.modules, codec_module, raising=False)
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(pydantic.ValidationError) as caught:
        Cachette.load_config(lambda: [("codec", codec)])
    text = str(caught.value)
    assert "codec" in text
    assert f'pip install "cachette[{extra}]"' in text
    assert Cachette.config().codec is None  # the previous configuration stays


def test_unknown_codec_keeps_the_established_message() -> None:
    with pytest.raises(pydantic.ValidationError, match='The "codec" value must be one of'):
        Cachette.load_config(lambda: [("codec", "yaml")])


def test_codec_names_are_case_insensitive() -> None:
    Cachette.load_config(lambda: [("codec", "MsgPack")])
    assert Cachette.config().codec == "msgpack"
