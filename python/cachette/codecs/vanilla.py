"""The default codec: values are stored as their string form and come back as ``str``."""

from __future__ import annotations

from typing import Any


class VanillaCodec:
    name = "vanilla"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogatepass")
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return str(value).encode("utf-8", "surrogatepass")

    def decode(self, data: bytes) -> str:
        # Bytes that are not UTF-8 still come back as a str, byte for byte.
        return data.decode("utf-8", "surrogateescape")
