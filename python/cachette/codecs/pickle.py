"""Pickle: any picklable Python object keeps its type. Only read caches you trust."""

from __future__ import annotations

import pickle
from typing import Any

from cachette.exceptions import CodecError


class PickleCodec:
    name = "pickle"

    def encode(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise CodecError(
                f'The "pickle" codec cannot encode {type(value).__name__}: {exc}'
            ) from exc

    def decode(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as exc:
            raise CodecError(f'The "pickle" codec cannot decode the stored bytes: {exc}') from exc
