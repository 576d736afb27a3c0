"""The default codec: values are stored as their string form and come back as ``str``."""

from __future__ import annotations

from typing import Any

from cachette.exceptions import CodecError


class VanillaCodec:
    name = "vanilla"
    #: Values are UTF-8 text: local stores encode and decode str themselves, in C++.
    text = True

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        text = value if isinstance(value, str) else str(value)
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise CodecError(f'The "vanilla" codec cannot encode this str: {exc}') from exc

    def decode(self, data: bytes) -> str:
        # Bytes that are not UTF-8 still come back as a str, byte for byte.
        return data.decode("utf-8", "surrogateescape")
