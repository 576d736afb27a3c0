"""The default codec: values are stored as their string form and always come back as ``str``,
exactly as in the 0.1.x releases: ``fetch`` returns ``str(value)`` for every value put
(``put(k, 123)`` gives ``"123"``, ``put(k, b"A")`` gives ``"b'A'"``).

``str`` values are stored as UTF-8. A str holding surrogate escapes (what reading back bytes
that are not UTF-8 gives) stores those bytes again.
"""

from __future__ import annotations

from typing import Any

from cachette.codecs import BaseCodec


def _fast_encode(value: Any) -> bytes:
    # Strict UTF-8: a str holding surrogate escapes raises, and the facade falls back to
    # _encode below.
    if type(value) is str:
        return value.encode()
    return str(value).encode()


def _encode(value: Any) -> bytes:
    text = value if isinstance(value, str) else str(value)
    return str.encode(text, "utf-8", "surrogateescape")


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
