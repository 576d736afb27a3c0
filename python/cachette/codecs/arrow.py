"""pandas DataFrames through Apache Arrow (``pip install "cachette[dataframe]"``).

``feather`` (Arrow IPC file, LZ4-compressed) is the fastest; ``parquet`` (Snappy) is the
most compact. Both keep the index (named or not, MultiIndex included), column order, dtypes
(numeric, bool, str, datetime with time zone, categorical, nullable extension types) and
NaN/NA. Only DataFrames are accepted; column names that are not str come back converted by
pyarrow (for example ``1`` as ``1.0`` next to a float name), and object columns must hold
values of one Arrow type.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.feather as feather  # type: ignore[import-untyped,unused-ignore]
import pyarrow.parquet as parquet  # type: ignore[import-untyped,unused-ignore]
from pandas import DataFrame

from cachette.codecs import BaseCodec, encode_error

_from_pandas = pa.Table.from_pandas
_BufferOutputStream = pa.BufferOutputStream
_BufferReader = pa.BufferReader
_write_feather = feather.write_feather
_read_feather = feather.read_table
_write_parquet = parquet.write_table
_read_parquet = parquet.read_table


def _check(codec: str, value: Any) -> None:
    if not isinstance(value, DataFrame):
        raise encode_error(codec, value, TypeError("only pandas DataFrames are supported"))


def _feather_encode(value: Any) -> bytes:
    _check("feather", value)
    sink = _BufferOutputStream()
    _write_feather(_from_pandas(value), sink)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _feather_decode(data: bytes) -> DataFrame:
    return _read_feather(_BufferReader(data)).to_pandas()  # type: ignore[no-any-return]


def _parquet_encode(value: Any) -> bytes:
    _check("parquet", value)
    sink = _BufferOutputStream()
    _write_parquet(_from_pandas(value), sink)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _parquet_decode(data: bytes) -> DataFrame:
    return _read_parquet(_BufferReader(data)).to_pandas()  # type: ignore[no-any-return]


class FeatherCodec(BaseCodec):
    name = "feather"

    def __init__(self) -> None:
        self.raw_encode = _feather_encode
        self.raw_decode = _feather_decode


class ParquetCodec(BaseCodec):
    name = "parquet"

    def __init__(self) -> None:
        self.raw_encode = _parquet_encode
        self.raw_decode = _parquet_decode
