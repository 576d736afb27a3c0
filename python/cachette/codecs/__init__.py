"""Codecs turn values into bytes for the engine and back.

A codec is chosen once by name at ``load_config``; the engine only ever sees bytes.
Each codec delegates to the best library for its format.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from cachette.exceptions import CodecError

__all__ = ["CODEC_MODULES", "Codec", "CodecError", "load_codec"]


class Codec(Protocol):
    """Encodes values to bytes and decodes them back."""

    name: str
    #: True when values are stored as UTF-8 text and come back as str; local stores then
    #: convert in C++ (optional attribute, False when absent).
    # text: bool

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


# codec name -> (module, class, pip extra that provides its library or None)
CODEC_MODULES: dict[str, tuple[str, str, str | None]] = {
    "vanilla": ("cachette.codecs.vanilla", "VanillaCodec", None),
    "json": ("cachette.codecs.json", "JSONCodec", None),
    "pickle": ("cachette.codecs.pickle", "PickleCodec", None),
}


def load_codec(name: str) -> Codec:
    """Builds the codec registered under ``name``; raises ValueError naming the missing extra."""
    try:
        module_name, class_name, extra = CODEC_MODULES[name]
    except KeyError:
        raise ValueError(f'The "codec" value {name!r} is not available in this version.') from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f' Install it with: pip install "cachette[{extra}]"' if extra else ""
        raise ValueError(
            f'The "codec" value "{name}" needs {exc.name!r}, which is missing.{hint}'
        ) from None
    codec: Codec = getattr(module, class_name)()
    return codec
