"""Pickle: any picklable Python object comes back with its type (tuples, sets, datetimes,
pydantic models, DataFrames...). Only read caches that no one else can write: unpickling
runs code chosen by whoever wrote the bytes."""

from __future__ import annotations

import pickle
from functools import partial

from cachette.codecs import BaseCodec


class PickleCodec(BaseCodec):
    name = "pickle"

    def __init__(self) -> None:
        self.raw_encode = partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)
        self.raw_decode = pickle.loads
