"""Shared fixtures: every test starts from the default configuration."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator

import pytest


def _load_core_override() -> None:
    """`make py-asan` runs the suite against a sanitizer build of the engine: it names that
    build's module in CACHETTE_TEST_CORE, which is loaded before the package imports _core."""
    path = os.environ.get("CACHETTE_TEST_CORE")
    if not path:
        return
    spec = importlib.util.spec_from_file_location("cachette._core", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["cachette._core"] = module
    spec.loader.exec_module(module)


_load_core_override()

from cachette import Cachette  # noqa: E402


@pytest.fixture(autouse=True)
def default_config() -> Iterator[None]:
    Cachette.load_config(lambda: [])
    yield
    Cachette.load_config(lambda: [])
