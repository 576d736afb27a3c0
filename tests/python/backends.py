"""The backends every cross-backend test runs on, shared by the test modules.

``BACKENDS`` lists one ``BackendSpec`` per backend that exists; a test parametrised over it
(``@pytest.mark.parametrize("backend", BACKENDS, ids=str)``) gets the configuration pairs
with ``backend.settings(tmp_path)``. Network servers are started by scripts/services.sh,
which writes their addresses to environment variables; a missing variable fails the test
loudly (these tests never skip): run the suite through scripts/with-services.sh.

To add a backend, append a ``BackendSpec`` here.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

Settings = list[tuple[str, object]]


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/with-services.sh")
    return value


@dataclass(frozen=True)
class BackendSpec:
    name: str
    _settings: Callable[[pathlib.Path], Settings]
    #: True for servers shared with other tests: use unique keys and clear only those.
    shared: bool = False

    def settings(self, tmp_path: pathlib.Path) -> Settings:
        return [("backend", self.name), *self._settings(tmp_path)]

    def __str__(self) -> str:
        return self.name


BACKENDS: list[BackendSpec] = [
    BackendSpec("inmemory", lambda _: []),
    BackendSpec("pickle", lambda tmp: [("pickle_path", str(tmp / "cache.lmdb"))]),
    BackendSpec(
        "redis", lambda _: [("redis_url", require_env("CACHETTE_TEST_REDIS_URL"))], shared=True
    ),
    BackendSpec(
        "valkey", lambda _: [("valkey_url", require_env("CACHETTE_TEST_VALKEY_URL"))], shared=True
    ),
    BackendSpec(
        "memcached",
        lambda _: [("memcached_host", require_env("CACHETTE_TEST_MEMCACHED_HOST"))],
        shared=True,
    ),
    BackendSpec(
        "mongodb",
        lambda _: [("mongodb_url", require_env("CACHETTE_TEST_SECANTUS_URL"))],
        shared=True,
    ),
]

#: BACKENDS as pytest parameters: the network ones carry the integration marker, so that
#: ``pytest -m "not integration"`` runs the local backends with no server running.
BACKEND_PARAMS = [
    pytest.param(spec, id=spec.name, marks=[pytest.mark.integration] if spec.shared else [])
    for spec in BACKENDS
]
