"""Backends by name. Each module exposes ``create(config) -> Backend`` and, optionally,
``check(config)``, which raises ValueError (naming the key) for configuration it cannot use;
checks run inside ``load_config`` so bad settings fail at startup."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cachette.backends.base import Backend, LocalBackend
from cachette.exceptions import BackendNotAvailableError

if TYPE_CHECKING:
    from cachette.config import CachetteConfig

__all__ = ["BACKEND_MODULES", "Backend", "LocalBackend", "check_config", "create_backend"]

# backend name -> module implementing it; names absent here are validated but not built yet.
BACKEND_MODULES: dict[str, str] = {
    "inmemory": "cachette.backends.memory",
    "pickle": "cachette.backends.file",
    "redis": "cachette.backends.redis",
    "valkey": "cachette.backends.redis",
    "memcached": "cachette.backends.memcached",
    "mongodb": "cachette.backends.mongodb",
}


def check_config(config: CachetteConfig) -> None:
    module_name = BACKEND_MODULES.get(config.backend)
    if module_name is None:
        return
    check = getattr(importlib.import_module(module_name), "check", None)
    if check is not None:
        check(config)


def create_backend(config: CachetteConfig) -> Backend:
    module_name = BACKEND_MODULES.get(config.backend)
    if module_name is None:
        raise BackendNotAvailableError(
            f'The "{config.backend}" backend is not available in this version of cachette.'
        )
    backend: Backend = importlib.import_module(module_name).create(config)
    return backend
