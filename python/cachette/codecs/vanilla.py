"""The default codec: values are stored as their string form and always come back as ``str``
(``put(k, 123)`` then ``fetch(k)`` gives ``"123"``), as in the 0.1.x releases.

``str`` values are stored as UTF-8; ``bytes`` are stored as they are and come back decoded
as UTF-8 (bytes that are not UTF-8 come back as surrogate escapes, byte for byte, and such a
str stores the same bytes again); anything else is stored as ``str(value)``.
"""

from __future__ import annotations

from typing import Any

from cachette.codecs import BaseCodec

_BINARY = (bytes, bytearray, memoryview)


def _fast_encode(value: Any) -> bytes:
    # Strict UTF-8: a str holding surrogate escapes raises, and the facade falls back to
    # _encode below.
    if type(value) is str:
        return value.encode()
    if isinstance(value, str):
        return str.encode(value)
    if isinstance(value, _BINARY):
        return bytes(value)
    return str(value).encode()


def _encode(value: Any) -> bytes:
    if isinstance(value, _BINARY):
        return bytes(value)
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class VanillaCodec(BaseCodec):
    name = "vanilla"
    #: Values are UTF-8 text: local stores encode and decode str themselves, in C++.
    text = True

    def __init__(self) -> None:
        self.raw_encode = _fast_encode
        self.full_encode = _encode
        # bytes.decode: strict UTF-8, no Python frame; bytes that are not UTF-8 raise and
        # the facade falls back to _decode.
        self.raw_decode = bytes.decode
        self.full_decode = _decode
