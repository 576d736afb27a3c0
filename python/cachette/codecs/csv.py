"""pandas DataFrames as CSV text (``pip install "cachette[dataframe]"``; needs only pandas).

The stored bytes are one line of JSON that describes the frame (index, column names, dtypes)
followed by the frame as ordinary CSV with a header row, so that ``fetch`` gives back the same
index, column names and dtypes. CSV carries text only, so some things cannot come back:

- an empty string in a text column comes back as NaN (CSV writes both as an empty field);
- values of an ``object`` column come back as str (``[1, "a"]`` gives ``["1", "a"]``);
- column and index names must be str, int, float, bool or None, and columns a flat Index;
- dtypes other than numbers, bool, str, object, datetime (with or without time zone),
  timedelta and categorical (of str/int/float categories) are refused with ``CodecError``;
  use ``feather`` or ``parquet`` for those.

Floats are written with ``repr`` and read back with round-trip precision, so they are exact.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
from pandas import DataFrame
from pandas.api.extensions import ExtensionDtype

from cachette.codecs import BaseCodec, encode_error

_FORMAT = 1
_PLAIN_KINDS = frozenset("biufO")  # numbers, bool, str and object: read_csv parses them
_POST = frozenset("Mmc")  # converted after reading: datetimes, timedeltas, categoricals
_FORCED = frozenset("=c")  # read with the dtype given: nullable extension types, categories
_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_json_loads = json.loads
_read_csv = pd.read_csv
_BytesIO = io.BytesIO
# pandas 3 parses floats exactly by default and deprecates the option; pandas 2 needs it.
_EXACT_FLOATS: dict[str, Any] = (
    {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
)


def _spec(dtype: Any, where: str) -> list[Any]:
    """How to read one column back: ``[dtype, how]`` where how is "" when read_csv infers it
    (converted afterwards if inference differs), "=" when read_csv must be given the dtype
    (nullable extension types), "M"/"m" for datetimes/timedeltas parsed afterwards, or "c"
    followed by the categories and whether they are ordered."""
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if categories.dtype.kind not in "biufO" and not isinstance(
            categories.dtype, pd.StringDtype
        ):
            raise TypeError(f"{where}: categories of dtype {categories.dtype} are not supported")
        return ["object", "c", categories.tolist(), bool(dtype.ordered)]
    kind = dtype.kind
    if kind in _PLAIN_KINDS:
        extension = isinstance(dtype, ExtensionDtype) and not isinstance(dtype, pd.StringDtype)
        return [str(dtype), "=" if extension else ""]
    if kind in "Mm":
        return [str(dtype), kind]
    raise TypeError(f"{where} has dtype {dtype}, which CSV cannot carry")


def _post(series: pd.Series, spec: list[Any]) -> pd.Series:
    post = spec[1]
    if post == "M":
        dtype = pd.api.types.pandas_dtype(spec[0])
        tz = getattr(dtype, "tz", None)
        parsed = pd.to_datetime(series, format="ISO8601", utc=tz is not None)
        return parsed.astype(dtype)
    if post == "m":
        return pd.to_timedelta(series).astype(spec[0])
    # categorical: CSV holds str(category); map each back to its category
    categories = spec[2]
    lookup = {str(c): c for c in categories}
    return series.map(lookup).astype(pd.CategoricalDtype(categories, ordered=spec[3]))


_TEXT = frozenset({"str", "string", "object"})


def _read(body: bytes, specs: list[list[Any]], as_text: set[int], levels: int) -> DataFrame:
    """Parses the CSV body into columns named ``_0, _1, ...``. read_csv infers most dtypes
    faster than it converts to a requested one, so dtypes are requested only where inference
    could lose information: nullable extension types, and the ``as_text`` columns."""
    dtypes = {
        f"_{i}": spec[0] for i, spec in enumerate(specs) if i in as_text or spec[1] in _FORCED
    }
    frame: DataFrame = _read_csv(
        _BytesIO(body),
        header=0,
        names=[f"_{i}" for i in range(len(specs))],
        index_col=list(range(levels)) if levels else None,
        dtype=dtypes or None,
        keep_default_na=False,
        na_values=[""],
        **_EXACT_FLOATS,
    )
    return frame


def _finish(body: bytes, specs: list[list[Any]], frame: DataFrame, levels: int) -> DataFrame:
    """Gives the columns after the first ``levels`` specs their dtypes. Text that read_csv
    inferred as numbers is read again as text; other dtypes are converted where they differ."""
    got = [str(d) for d in frame.dtypes]
    retry = {
        i
        for i in range(levels, len(specs))
        if specs[i][0] in _TEXT and got[i - levels] not in _TEXT
    }
    if retry:
        frame = _read(body, specs, retry, levels)
        got = [str(d) for d in frame.dtypes]
    for i in range(levels, len(specs)):
        spec = specs[i]
        if spec[1] in _POST:
            name = f"_{i}"
            frame[name] = _post(frame[name], spec)
        elif got[i - levels] != spec[0]:
            name = f"_{i}"
            frame[name] = frame[name].astype(spec[0])
    return frame


def _read_columns(body: bytes, specs: list[list[Any]]) -> DataFrame:
    return _finish(body, specs, _read(body, specs, set(), 0), 0)


def _read_indexed(body: bytes, specs: list[list[Any]], levels: int) -> DataFrame | None:
    """Lets read_csv build the index (no copy), provided it inferred the index dtypes right;
    None otherwise."""
    frame = _read(body, specs, set(), levels)
    index = frame.index
    got = index.dtypes.tolist() if isinstance(index, pd.MultiIndex) else [index.dtype]
    if [str(d) for d in got] != [s[0] for s in specs[:levels]]:
        return None
    return _finish(body, specs, frame, levels)


def _frame(meta: dict[str, Any], body: bytes) -> DataFrame:
    index_specs: list[list[Any]] = meta.get("index", [])
    levels = len(index_specs)
    specs = index_specs + meta["cols"]
    frame: DataFrame
    if not specs:
        frame = DataFrame()
    else:
        indexed = None
        if levels and not any(s[1] in _POST for s in index_specs):
            indexed = _read_indexed(body, specs, levels)
        if indexed is not None:
            frame = indexed
        else:
            frame = _read_columns(body, specs)
            if levels:
                frame = frame.set_index([f"_{i}" for i in range(levels)])
    if levels:
        frame.index.names = meta["inames"]
    else:
        start, stop, step, name = meta["irange"]
        frame.index = pd.RangeIndex(start, stop, step, name=name)
    if "crange" in meta:
        start, stop, step = meta["crange"]
        frame.columns = pd.RangeIndex(start, stop, step, name=meta["cname"])
    else:
        columns = meta["columns"]
        frame.columns = pd.Index(columns, name=meta["cname"], dtype=None if columns else object)
    return frame


def _encode(value: Any) -> bytes:
    if not isinstance(value, DataFrame):
        raise encode_error("csv", value, TypeError("only pandas DataFrames are supported"))
    columns = value.columns
    if isinstance(columns, pd.MultiIndex):
        raise TypeError("MultiIndex columns are not supported")
    index = value.index
    meta: dict[str, Any] = {"v": _FORMAT, "cname": columns.name}
    if isinstance(columns, pd.RangeIndex):
        meta["crange"] = [columns.start, columns.stop, columns.step]
    else:
        meta["columns"] = columns.tolist()
    meta["cols"] = [_spec(dt, f"column {i}") for i, dt in enumerate(value.dtypes)]
    write_index = not isinstance(index, pd.RangeIndex)
    if isinstance(index, pd.RangeIndex):
        meta["irange"] = [index.start, index.stop, index.step, index.name]
    else:
        meta["inames"] = list(index.names)
        if isinstance(index, pd.MultiIndex):
            levels = index.dtypes.tolist()
        else:
            levels = [index.dtype]
        meta["index"] = [_spec(dt, f"index level {i}") for i, dt in enumerate(levels)]
    head = _json_dumps(meta)
    body = value.to_csv(index=write_index, lineterminator="\n")
    return f"{head}\n{body}".encode()


def _decode(data: bytes) -> DataFrame:
    head, _, body = data.partition(b"\n")
    meta: dict[str, Any] = _json_loads(head)
    if meta.get("v") != _FORMAT:
        raise ValueError("not written by this version of the csv codec")
    return _frame(meta, body)


class CSVCodec(BaseCodec):
    name = "csv"

    def __init__(self) -> None:
        self.raw_encode = _encode
        self.raw_decode = _decode
