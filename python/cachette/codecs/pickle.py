"""Pickle: any picklable Python object comes back with its type (tuples, sets, datetimes,
pydantic models, DataFrames...). Only read caches that no one else can write: unpickling
runs code chosen by whoever wrote the bytes."""

from __future__ import annotations

import pickle

from cachette.codecs import BaseCodec


class PickleCodec(BaseCodec):
    name = "pickle"

    def __init__(self) -> None:
        # pickle.dumps itself, with its default protocol (4 or later, as the running Python
        # chooses); any Python that can run cachette reads it.
        self.raw_encode = pickle.dumps
        self.raw_decode = pickle.loads
