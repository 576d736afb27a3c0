"""Parsing of the header fields an HTTP cache reads: Cache-Control, dates, entity tags.

Plain functions over strings, no I/O: each is unit-tested on its own. Parsing is lenient
where RFC 9111 asks caches to be (unknown directives are ignored, a malformed delta-seconds
makes its directive count as stale-forcing where §4.2.1 says so) and strict elsewhere.
"""

from __future__ import annotations

import calendar
import re
from email.utils import parsedate_tz

__all__ = [
    "CacheControl",
    "etag_matches",
    "parse_cache_control",
    "parse_delta",
    "parse_etag_list",
    "parse_http_date",
    "surrogate_directives",
]

#: Largest delta-seconds we keep (RFC 9111 §1.2.2: 2**31 stands for "infinity").
MAX_DELTA = 2**31
#: Digits beyond which a delta-seconds is MAX_DELTA without being converted.
_DELTA_DIGITS = 10

CacheControl = dict[str, "str | None"]
"""Directive name (lower case) -> argument (unquoted) or None when it has none."""


#: Directives honoured wherever they appear as a word of their own, even where the syntax
#: is broken (``max-age=600; private``, a `;` typed for a `,`): both only restrict.
_RESTRICTIVE = ("private", "no-store")
_WORDS = re.compile(r"[^,;\s]+")


def parse_cache_control(values: list[str] | str | None) -> CacheControl:
    """Directives of one or more Cache-Control field lines. A directive given twice keeps
    its first value, except that a valueless repeat does not erase an argument. ``private``
    and ``no-store`` count wherever they stand as a word between `,`, `;` or spaces: a
    malformed field that names them is taken to mean them (a `;` typed for a `,` would
    otherwise hide ``private`` inside the argument of ``max-age``)."""
    if not values:
        return {}
    if isinstance(values, list):
        values = ",".join(values)
    result: CacheControl = {}
    for name, arg in _split_directives(values):
        if name not in result:
            result[name] = arg
        elif result[name] is None and arg is not None:
            result[name] = arg
    lowered = values.lower()
    if any(word in lowered and word not in result for word in _RESTRICTIVE):
        for word in _WORDS.findall(lowered):
            if word in _RESTRICTIVE and word not in result:
                result[word] = None
    return result


def _split_directives(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        # name
        j = i
        while j < n and text[j] not in ",=":
            j += 1
        name = text[i:j].strip().lower()
        arg: str | None = None
        if j < n and text[j] == "=":
            j += 1
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == '"':
                j += 1
                buf = []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    buf.append(text[j])
                    j += 1
                arg = "".join(buf)
                j += 1  # closing quote
                while j < n and text[j] != ",":
                    j += 1
            else:
                k = j
                while k < n and text[k] != ",":
                    k += 1
                arg = text[j:k].strip()
                j = k
        if name:
            out.append((name, arg))
        i = j + 1
    return out


def parse_delta(arg: str | None) -> int | None:
    """delta-seconds (RFC 9111 §1.2.2): a non-negative integer, capped at 2**31 (however
    many digits it has); None when absent or malformed."""
    if arg is None:
        return None
    arg = arg.strip()
    if not arg.isascii() or not arg.isdigit():
        return None
    digits = arg.lstrip("0")
    if len(digits) > _DELTA_DIGITS:
        return MAX_DELTA  # never handed to int(): thousands of digits raise ValueError
    value = int(digits or "0")
    return MAX_DELTA if value > MAX_DELTA else value


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch from an HTTP-date (IMF-fixdate and the two obsolete formats,
    RFC 9110 §5.6.7); None when absent or invalid. Callers decide what an invalid date
    means (RFC 9111 §5.3: an invalid Expires means "already expired")."""
    if not value:
        return None
    value = value.strip()
    if not value[:1].isalpha():
        return None
    parts = parsedate_tz(value)
    if parts is None:
        return None
    offset = parts[9]
    if offset not in (None, 0):
        return None  # HTTP-dates are always GMT
    year = parts[0]
    if year < 1900:
        return None
    try:
        return float(calendar.timegm((year, *parts[1:6], 0, 1, 0)))
    except (OverflowError, ValueError):
        return None


def parse_etag_list(value: str) -> list[str] | None:
    """The entity tags of an If-None-Match / If-Match value; None for ``*``."""
    value = value.strip()
    if value == "*":
        return None
    if value.endswith('"') and "," not in value and value.count('"') == 2:
        if value.startswith('"') or value.startswith('W/"'):
            return [value]  # the common case: one tag
    tags: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t,":
            i += 1
        if i >= n:
            break
        start = i
        if value.startswith("W/", i):
            i += 2
        if i < n and value[i] == '"':
            end = value.find('"', i + 1)
            if end < 0:
                break
            i = end + 1
            tags.append(value[start:i])
        else:  # not a valid entity-tag: skip to the next comma
            while i < n and value[i] != ",":
                i += 1
    return tags


def etag_matches(tag: str, tags: list[str] | None, *, weak: bool = True) -> bool:
    """True when ``tag`` matches one of ``tags`` (None means ``*``), by weak comparison
    (RFC 9110 §8.8.3.2) or strong comparison when ``weak`` is False."""
    if tags is None:
        return True
    if weak:
        bare = tag[2:] if tag.startswith("W/") else tag
        return any((t[2:] if t.startswith("W/") else t) == bare for t in tags)
    if tag.startswith("W/"):
        return False
    return tag in tags


def surrogate_directives(values: list[str], token: str) -> CacheControl:
    """The Surrogate-Control directives (Edge Architecture 1.0) that apply to the surrogate
    named ``token``: those without a target and those targeted at it (``max-age=60;token``).
    Targeted directives win over untargeted ones."""
    general: CacheControl = {}
    mine: CacheControl = {}
    for value in values:
        for part in value.split(","):
            directive, _, target = part.partition(";")
            parsed = parse_cache_control(directive)
            if not parsed:
                continue
            target = target.strip()
            if not target:
                general.update((k, v) for k, v in parsed.items() if k not in general)
            elif target == token:
                mine.update(parsed)
    return {**general, **mine} if mine else general
