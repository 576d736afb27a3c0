"""Configuration: the keys users pass to ``Cachette.load_config``, validated once at startup.

This module is plain data at the bottom of the package: it validates values alone and imports
neither backends nor codecs (``cachette.startup`` runs the checks that need them). Every problem
is reported as a ``pydantic.ValidationError`` whose text names the key. The messages of the
0.1.x releases are kept word for word, because users' tests match them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from cachette import _core

BACKENDS = ("inmemory", "memcached", "mongodb", "pickle", "redis", "valkey")
CODECS = ("csv", "feather", "json", "msgpack", "orjson", "parquet", "pickle", "vanilla")

# Defaults live in the engine (include/cachette/options.hpp), written once.
DEFAULT_TTL = _core.DEFAULT_TTL
DEFAULT_MAX_MEMORY = _core.DEFAULT_MAX_MEMORY
#: The in-memory store's largest budget: 16 shards of at most 3 GiB each.
MAX_MAX_MEMORY = 48 * 1024**3

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


_SECRET_QUERY_RE = re.compile(r"(?i)([?&](?:password|pass|pwd|secret|token)=)[^&#]*")
_USERINFO_RE = re.compile(r"(?<=://)([^/@,?#]*)@")
#: Fields that may carry credentials (``scheme://user:password@host``); never shown in full.
SECRET_FIELDS = ("redis_url", "valkey_url", "memcached_host", "mongodb_url")


def redact(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` part, and of
    ``password=`` query parameters, replaced by ``***`` (user names stay, to tell accounts
    apart). Comma-separated lists of URLs are covered too."""

    def userinfo(match: re.Match[str]) -> str:
        user, colon, _ = match.group(1).partition(":")
        return f"{user}:***@" if colon else "***@"

    return _SECRET_QUERY_RE.sub(r"\1***", _USERINFO_RE.sub(userinfo, text))


def _quoted_list(names: Iterable[str]) -> str:
    items = [f'"{n}"' for n in names]
    return ", ".join(items[:-1]) + " or " + items[-1]


def parse_size(key: str, value: object) -> int:
    """Bytes from an int or a string such as ``"64MB"`` / ``"1GiB"`` (decimal and binary units)."""
    if isinstance(value, bool):
        raise ValueError(f'The "{key}" value must be a size in bytes such as 67108864 or "64MB".')
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _SIZE_UNITS:
            raise ValueError(
                f'The "{key}" value {value!r} is not a size; use bytes or a number with a unit '
                'such as "64MB" or "1GiB".'
            )
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f'The "{key}" value must be a size in bytes such as 67108864 or "64MB".')
    if size < 1024 * 1024:
        raise ValueError(f'The "{key}" value must be at least 1 MiB (got {size} bytes).')
    return size


def _positive_seconds(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f'The "{key}" value must be a number of seconds greater than 0.')
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f'The "{key}" value must be a number of seconds greater than 0.') from None
    if not (0 < seconds <= 3600):
        raise ValueError(f'The "{key}" value must be greater than 0 and at most 3600 seconds.')
    return seconds


class CachetteConfig(BaseModel):
    """Validated configuration. Unknown keys are ignored, so a whole application's
    ``BaseSettings`` can be passed as it is."""

    # URLs may hold passwords: validation errors must not echo the input.
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    backend: str = "inmemory"
    codec: str | None = None
    ttl: int = DEFAULT_TTL

    redis_url: str | None = None
    valkey_url: str | None = None
    memcached_host: str | None = None
    mongodb_url: str | None = None
    database_name: str = _core.DEFAULT_DATABASE_NAME
    table_name: str = _core.DEFAULT_TABLE_NAME
    pickle_path: str | None = None

    # Keys added by this version; every one is optional with a safe default.
    max_memory: int = DEFAULT_MAX_MEMORY
    """Byte budget of the in-memory store (int or "64MB"); least useful entries are evicted."""
    fail_open: bool = False
    """Turn connection and timeout errors of network backends into cache misses."""
    timeout: float = _core.DEFAULT_TIMEOUT
    """Seconds a network operation may take before it fails with CachetteTimeoutError."""
    connect_timeout: float = _core.DEFAULT_CONNECT_TIMEOUT
    """Seconds allowed to open a connection to a server."""
    pool_size: int = _core.DEFAULT_POOL_SIZE
    """Connections per server for network backends."""
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # -- file backend (backend="pickle") --
    pickle_max_size: int = _core.DEFAULT_FILE_MAX_SIZE
    """Bytes the file store may hold (int or "64MB"; default 1 GiB, None = the default,
    0 = unlimited, an explicit opt-in); past it, the entries that expire soonest are
    evicted. See docs/configuration.md and docs/file-backend.md."""
    pickle_strict: bool = False
    #: Honour the request's Cache-Control (no-store, no-cache, max-age) in the ``Cachette``
    #: that dependency injection builds with the request (docs/frameworks.md). A client then
    #: decides, for its own request, whether the cache is read and written: turn it off where
    #: the cache holds state the client must not skip (rate limits, lockout counters).
    request_cache_control: bool = True
    """A damaged store (truncated, corrupt pages) fails load_config with CachetteStorageError
    and is left untouched, instead of being moved aside and replaced by a fresh store."""
    # -- end file backend --

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value: object) -> str:
        if value is None:
            return "inmemory"
        if not isinstance(value, str) or value.lower() not in BACKENDS:
            raise ValueError(f'The "backend" value must be one of {_quoted_list(BACKENDS)}.')
        return value.lower()

    @field_validator("codec", mode="before")
    @classmethod
    def _codec(cls, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value.lower() not in CODECS:
            raise ValueError(f'The "codec" value must be one of {_quoted_list(CODECS)}.')
        # Whether the codec's library is installed is checked at startup (cachette.startup).
        return value.lower()

    @field_validator("ttl", mode="before")
    @classmethod
    def _ttl(cls, value: object) -> int:
        if value is None:
            return DEFAULT_TTL
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            else:
                raise ValueError(
                    f'The "ttl" value must be an integer number of seconds, not {value!r}.'
                )
        assert isinstance(value, int)
        if value < 1 or value > 3600:
            raise ValueError('The "ttl" value must between 1 or 3600 seconds.')
        return value

    @field_validator(
        "redis_url",
        "valkey_url",
        "memcached_host",
        "mongodb_url",
        "pickle_path",
        "tls_ca_file",
        "tls_cert_file",
        "tls_key_file",
        mode="before",
    )
    @classmethod
    def _optional_text(cls, value: object, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError(f'The "{info.field_name}" value must be a string.')
        if "\x00" in value:
            # The OS would cut the path (or URL) at the NUL and use a different one.
            raise ValueError(f'The "{info.field_name}" value must not contain a NUL character.')
        return value

    @field_validator("database_name", "table_name", mode="before")
    @classmethod
    def _names(cls, value: object, info: ValidationInfo) -> str:
        if value is None or value == "":
            return ""  # reported by _required_per_backend when the backend needs it
        if not isinstance(value, str):
            raise ValueError(f'The "{info.field_name}" value must be a string.')
        return value

    @field_validator("max_memory", mode="before")
    @classmethod
    def _max_memory(cls, value: object) -> int:
        if value is None:
            return DEFAULT_MAX_MEMORY
        size = parse_size("max_memory", value)
        if size > MAX_MAX_MEMORY:
            raise ValueError(
                f'The "max_memory" value must be at most 48 GiB ({MAX_MAX_MEMORY} bytes), '
                f"the largest in-memory store this version supports; got {size} bytes."
            )
        return size

    @field_validator("pickle_max_size", mode="before")
    @classmethod
    def _pickle_max_size(cls, value: object) -> int:
        if value is None:  # unset (a settings field left empty): the bounded default
            return _core.DEFAULT_FILE_MAX_SIZE
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return 0  # unlimited: only when asked for explicitly
        return parse_size("pickle_max_size", value)

    @field_validator("timeout", "connect_timeout", mode="before")
    @classmethod
    def _seconds(cls, value: object, info: ValidationInfo) -> float:
        assert info.field_name is not None
        return _positive_seconds(info.field_name, value)

    @field_validator("pool_size", mode="before")
    @classmethod
    def _pool_size(cls, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= 64):
            raise ValueError('The "pool_size" value must be an integer between 1 and 64.')
        return value

    @field_validator("fail_open", "pickle_strict", "request_cache_control", mode="before")
    @classmethod
    def _fail_open(cls, value: object, info: ValidationInfo) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ValueError(f'The "{info.field_name}" value must be true or false.')

    @model_validator(mode="after")
    def _required_per_backend(self) -> CachetteConfig:
        backend = self.backend
        if backend == "redis" and not self.redis_url:
            raise ValueError('The "redis_url" cannot be null when using redis as backend.')
        if backend == "valkey" and not self.valkey_url:
            raise ValueError('The "valkey_url" cannot be null when using valkey as backend.')
        if backend == "memcached" and not self.memcached_host:
            raise ValueError('The "memcached_host" cannot be null when using memcached as backend.')
        if backend == "mongodb":
            if not self.mongodb_url:
                raise ValueError('The "mongodb_url" cannot be null when using MongoDB as backend.')
            if not self.database_name:
                raise ValueError(
                    'The "database_name" cannot be null when using MongoDB as backend.'
                )
            if not self.table_name:
                raise ValueError('The "table_name" cannot be null when using MongoDB as backend.')
        if backend == "pickle" and not self.pickle_path:
            raise ValueError('The "pickle_path" cannot be null when using pickle as backend.')
        # What the backend itself must accept (URL syntax, readable files, MongoDB names) is
        # checked at startup by cachette.startup, which sits above configuration.
        return self

    def __repr_args__(self) -> Any:
        # repr() and str() (logs, tracebacks, debuggers) never show a password.
        for name, value in super().__repr_args__():
            if name in SECRET_FIELDS and isinstance(value, str):
                value = redact(value)
            yield name, value

    @property
    def effective_codec(self) -> str:
        """The codec in use: the configured one, else pickle for the file backend (whose
        0.1.x ancestor kept values' Python types), else vanilla."""
        if self.codec is not None:
            return self.codec
        return "pickle" if self.backend == "pickle" else "vanilla"


def read_settings(settings: Any) -> dict[str, Any]:
    """Turns what a ``load_config`` function returned into a dict with lower-case keys.

    Accepts an iterable of ``(name, value)`` pairs, which covers lists of tuples and pydantic
    ``BaseSettings`` instances (iterating a model yields its fields as pairs), or a mapping.
    """
    if isinstance(settings, dict):
        pairs: Iterable[Any] = settings.items()
    else:
        pairs = settings
    out: dict[str, Any] = {}
    try:
        for pair in pairs:
            name, value = pair
            if not isinstance(name, str):
                raise TypeError
            out[name.lower()] = value
    except (TypeError, ValueError):
        raise TypeError(
            'Cachette.load_config expects a function returning a pydantic "BaseSettings" '
            "or a list of (name, value) tuples"
        ) from None
    return out
