"""JSON through the standard library.

Round-trips None, bool, int, float (NaN and infinities included), str, lists and dicts with
str keys. Tuples come back as lists and non-str dict keys as str (JSON has neither); bytes
are refused. pydantic models are stored as their JSON-mode dump.
"""

from __future__ import annotations

import json
from typing import Any

from cachette.codecs import BaseCodec
from cachette.codecs._models import dump_model

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=dump_model).encode


def _encode(value: Any) -> bytes:
    return _dumps(value).encode("utf-8", "surrogatepass")


class JSONCodec(BaseCodec):
    name = "json"

    def __init__(self) -> None:
        self.raw_encode = _encode
        self.raw_decode = json.loads
