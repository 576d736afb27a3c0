"""JSON through the standard library."""

from __future__ import annotations

import json
from typing import Any

from cachette.exceptions import CodecError


class JSONCodec:
    name = "json"

    def encode(self, value: Any) -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise CodecError(
                f'The "json" codec cannot encode {type(value).__name__}: {exc}'
            ) from exc

    def decode(self, data: bytes) -> Any:
        try:
            return json.loads(data)
        except ValueError as exc:
            raise CodecError(f'The "json" codec cannot decode the stored bytes: {exc}') from exc
