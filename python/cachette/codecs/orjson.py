"""JSON through orjson (``pip install "cachette[orjson]"``).

Round-trips None, bool, int (64-bit), float, str, lists and dicts with str keys. Tuples come
back as lists; NaN and infinities come back as None (orjson writes them as null); datetime,
date, UUID and dataclass values are written as JSON and come back as str/dict. bytes,
non-str dict keys and integers beyond 64 bits are refused. pydantic models are stored as
their JSON-mode dump.
"""

from __future__ import annotations

from functools import partial

import orjson

from cachette.codecs import BaseCodec
from cachette.codecs._models import dump_model


class ORJSONCodec(BaseCodec):
    name = "orjson"

    def __init__(self) -> None:
        # orjson.dumps itself on the hot path; values it refuses (pydantic models) go through
        # full_encode, whose default hook dumps models in JSON mode.
        self.raw_encode = orjson.dumps
        self.full_encode = partial(orjson.dumps, default=dump_model)
        self.raw_decode = orjson.loads
