"""Startup checks: what ``Cachette.load_config`` verifies beyond the configuration's own rules.

``cachette.config`` holds plain data and validates values alone (types, ranges, required keys);
it imports neither backends nor codecs. The checks that need them (a codec's library is
installed, a URL the backend can use, a path it can open) sit here, above the configuration
and the backends, and run right after it. They report problems the same way: a
``pydantic.ValidationError`` whose text names the key, so bad settings fail at startup.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import InitErrorDetails, ValidationError

from cachette.backends import check_config as check_backend
from cachette.codecs import load_codec
from cachette.config import CachetteConfig, read_settings

__all__ = ["checked_config"]


def checked_config(settings: Any) -> CachetteConfig:
    """The configuration built from what a ``load_config`` function returned, once both its
    own validation and the startup checks passed. Raises ``pydantic.ValidationError``."""
    config = CachetteConfig(**read_settings(settings))
    try:
        # A codec whose library is missing fails here, with the command that installs it.
        if config.codec is not None:
            load_codec(config.codec)
        check_backend(config)
    except ValueError as exc:
        raise _as_validation_error(exc) from None
    return config


def _as_validation_error(exc: ValueError) -> ValidationError:
    detail: InitErrorDetails = {
        "type": "value_error",
        "loc": (),
        "input": None,
        "ctx": {"error": exc},
    }
    # The input may hold credentials: like CachetteConfig, never echo it.
    return ValidationError.from_exception_data(CachetteConfig.__name__, [detail], hide_input=True)
