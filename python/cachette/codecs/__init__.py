"""Codecs turn values into bytes for the engine and back.

A codec is chosen once by name at ``load_config``; the engine only ever sees bytes.
Each codec delegates to the best library for its format and binds that library's functions
once, at import, so that a call costs little more than calling the library directly.

A value a codec cannot encode raises ``CodecError`` naming the codec and the value's type;
``Cachette.put`` encodes before it writes, so nothing is stored in that case.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from cachette.exceptions import CodecError

__all__ = [
    "CODEC_MODULES",
    "DATAFRAME_CODECS",
    "JSON_LIKE_CODECS",
    "BaseCodec",
    "Codec",
    "CodecError",
    "decode_error",
    "encode_error",
    "load_codec",
]


class Codec(Protocol):
    """Encodes values to bytes and decodes them back.

    ``encode``/``decode`` are complete and raise ``CodecError`` on failure. ``raw_encode`` and
    ``raw_decode`` are what ``Cachette.put``/``fetch`` call: fast paths with as little Python
    around the library as possible (often they *are* the library's function). They may raise
    on values the complete methods handle (pydantic models under orjson, non-UTF-8 bytes
    under vanilla) or refuse: when one raises, the facade calls ``encode``/``decode``, which
    give the result or raise ``CodecError``. The try blocks cost nothing when nothing fails.
    """

    name: str
    raw_encode: Callable[[Any], bytes]
    raw_decode: Callable[[bytes], Any]
    #: True when values are stored as UTF-8 text and come back as str; local stores then
    #: convert in C++ (optional attribute, False when absent).
    # text: bool

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class BaseCodec:
    """Implements ``encode``/``decode`` over the callables a subclass sets in ``__init__``:
    ``raw_encode``, ``raw_decode`` and, where those are only fast paths, ``full_encode`` and
    ``full_decode``."""

    name: str
    raw_encode: Callable[[Any], bytes]
    raw_decode: Callable[[bytes], Any]
    full_encode: Callable[[Any], bytes] | None = None
    full_decode: Callable[[bytes], Any] | None = None

    def encode(self, value: Any) -> bytes:
        try:
            return (self.full_encode or self.raw_encode)(value)
        except CodecError:
            raise
        except Exception as exc:
            raise encode_error(self.name, value, exc) from exc

    def decode(self, data: bytes) -> Any:
        try:
            return (self.full_decode or self.raw_decode)(data)
        except CodecError:
            raise
        except Exception as exc:
            raise decode_error(self.name, exc) from exc

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# codec name -> (module, class, pip extra that provides its library or None)
CODEC_MODULES: dict[str, tuple[str, str, str | None]] = {
    "vanilla": ("cachette.codecs.vanilla", "VanillaCodec", None),
    "json": ("cachette.codecs.json", "JSONCodec", None),
    "orjson": ("cachette.codecs.orjson", "ORJSONCodec", "orjson"),
    "msgpack": ("cachette.codecs.msgpack", "MsgpackCodec", "msgpack"),
    "pickle": ("cachette.codecs.pickle", "PickleCodec", None),
    "csv": ("cachette.codecs.csv", "CSVCodec", "dataframe"),
    "feather": ("cachette.codecs.arrow", "FeatherCodec", "dataframe"),
    "parquet": ("cachette.codecs.arrow", "ParquetCodec", "dataframe"),
}

#: Codecs that store JSON-like data; they accept pydantic models (dumped in JSON mode).
JSON_LIKE_CODECS = frozenset({"json", "orjson", "msgpack"})
#: Codecs that store pandas DataFrames only.
DATAFRAME_CODECS = frozenset({"csv", "feather", "parquet"})


def encode_error(codec: str, value: object, exc: BaseException) -> CodecError:
    """The error raised when ``codec`` cannot encode ``value``."""
    return CodecError(
        f'The "{codec}" codec cannot encode a value of type {_type_name(value)}: {exc}'
    )


def decode_error(codec: str, exc: BaseException) -> CodecError:
    """The error raised when ``codec`` cannot decode stored bytes (corrupt, or written by
    another codec)."""
    return CodecError(f'The "{codec}" codec cannot decode the stored bytes: {exc}')


def _type_name(value: object) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def load_codec(name: str) -> Codec:
    """Builds the codec registered under ``name``; raises ValueError naming the missing extra
    and the command that installs it."""
    try:
        module_name, class_name, extra = CODEC_MODULES[name]
    except KeyError:
        raise ValueError(f'The "codec" value {name!r} is not available in this version.') from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f' Install it with: pip install "cachette[{extra}]"' if extra else ""
        raise ValueError(
            f'The "codec" value "{name}" needs the {exc.name!r} package, which is not '
            f"installed.{hint}"
        ) from None
    codec: Codec = getattr(module, class_name)()
    return codec
