"""The default codec: values are stored as their string form and always come back as ``str``
(``put(k, 123)`` then ``fetch(k)`` gives ``"123"``), as in the 0.1.x releases.

``str`` values are stored as UTF-8; ``bytes`` are stored as they are and come back decoded
as UTF-8 (bytes that are not UTF-8 come back as surrogate escapes, byte for byte); anything
else is stored as ``str(value)``.
"""

from __future__ import annotations

from typing import Any

from cachette.codecs import BaseCodec


def _encode(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class VanillaCodec(BaseCodec):
    name = "vanilla"

    def __init__(self) -> None:
        self.raw_encode = _encode
        self.raw_decode = _decode
