"""Shared fixtures: every test starts from the default configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cachette import Cachette


@pytest.fixture(autouse=True)
def default_config() -> Iterator[None]:
    Cachette.load_config(lambda: [])
    yield
    Cachette.load_config(lambda: [])
