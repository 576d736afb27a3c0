"""MessagePack through msgpack (``pip install "cachette[msgpack]"``).

Round-trips None, bool, int (64-bit), float (NaN included), str, bytes, lists and dicts
(keys of any of those scalar types). Tuples come back as lists. Other types, DataFrames
among them, are refused. pydantic models are stored as their JSON-mode dump.

A ``Packer`` is kept per thread: packing reuses its buffer, which is faster than
``msgpack.packb`` (which builds a packer per call) and safe when several threads encode.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]

from cachette.codecs import BaseCodec
from cachette.codecs._models import dump_model


class _Packers(threading.local):
    def __init__(self) -> None:
        self.pack = msgpack.Packer(default=dump_model, use_bin_type=True).pack


_packers = _Packers()


def _encode(value: Any) -> bytes:
    data: bytes = _packers.pack(value)
    return data


class MsgpackCodec(BaseCodec):
    name = "msgpack"

    def __init__(self) -> None:
        self.raw_encode = _encode
        self.raw_decode = partial(msgpack.unpackb, strict_map_key=False)
