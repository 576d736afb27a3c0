"""A stored response and its compact binary form.

The freshness facts a hit needs (lifetime, initial age, the revalidation flags, the RFC 5861
windows) are computed once when the response is stored and travel in a fixed-size header, so
a hit decodes one ``struct`` and slices the rest: no header is parsed on the hot path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["Entry", "VaryIndex", "decode_record", "encode_entry", "encode_vary_index"]

Headers = list[tuple[bytes, bytes]]

_ENTRY = b"E"
_VARY = b"V"
_LAYOUT = struct.Struct("<cHBddddddI")  # kind status flags req resp age life swr sie hlen
_VARY_LAYOUT = struct.Struct("<cQ")  # kind generation, then names joined by ","

#: Flags: the response may not be served stale (must-revalidate, proxy-revalidate, s-maxage
#: in a shared cache); it must be revalidated before every use (no-cache without names).
MUST_REVALIDATE = 1
NO_CACHE = 2


@dataclass(slots=True)
class Entry:
    status: int
    headers: Headers
    body: bytes
    request_time: float
    response_time: float
    initial_age: float  # corrected_initial_age of RFC 9111 §4.2.3
    lifetime: float  # freshness lifetime, seconds
    flags: int = 0
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), or None."""
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_values(self, name: bytes) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k == name]

    def age(self, now: float) -> float:
        """current_age (RFC 9111 §4.2.3)."""
        return self.initial_age + max(0.0, now - self.response_time)

    @property
    def has_validator(self) -> bool:
        return self.header(b"etag") is not None or self.header(b"last-modified") is not None


@dataclass(slots=True)
class VaryIndex:
    """Stored under a URL whose response varies: the request fields it varies on and a
    generation that names the current set of variants (a new one orphans the old set)."""

    names: tuple[str, ...]
    generation: int


def encode_entry(entry: Entry) -> bytes:
    """The stored form. Fields are joined with LF and each name is ended by NUL, which the
    HTTP grammar forbids in field names and values; the cache never stores a response with
    them (``exchange.malformed_fields``), and a field that holds one anyway is refused here
    rather than written in a form that would decode as other fields (response splitting)."""
    headers = entry.headers
    blob = b"\n".join(k + b"\0" + v for k, v in headers)
    if headers and (blob.count(b"\n") != len(headers) - 1 or blob.count(b"\0") != len(headers)):
        raise ValueError("a stored header field may not contain LF or NUL")
    return (
        _LAYOUT.pack(
            _ENTRY,
            entry.status,
            entry.flags,
            entry.request_time,
            entry.response_time,
            entry.initial_age,
            entry.lifetime,
            entry.stale_while_revalidate,
            entry.stale_if_error,
            len(blob),
        )
        + blob
        + entry.body
    )


def encode_vary_index(index: VaryIndex) -> bytes:
    return _VARY_LAYOUT.pack(_VARY, index.generation) + ",".join(index.names).encode("latin-1")


def decode_record(data: bytes) -> Entry | VaryIndex | None:
    """The entry or vary index in ``data``; None for bytes we did not write (a foreign or
    older record is a miss, never an error)."""
    kind = data[:1]
    try:
        if kind == _ENTRY:
            _, status, flags, req, resp, age, life, swr, sie, hlen = _LAYOUT.unpack_from(data)
            start = _LAYOUT.size
            blob = data[start : start + hlen]
            headers: Headers = []
            if blob:
                for line in blob.split(b"\n"):
                    name, _, value = line.partition(b"\0")
                    headers.append((name, value))
            return Entry(
                status, headers, data[start + hlen :], req, resp, age, life, flags, swr, sie
            )
        if kind == _VARY:
            _, generation = _VARY_LAYOUT.unpack_from(data)
            names = data[_VARY_LAYOUT.size :].decode("latin-1")
            return VaryIndex(tuple(n for n in names.split(",") if n), generation)
    except (struct.error, UnicodeDecodeError):
        return None
    return None
