"""The engine module under test is the one the run asked for."""

from __future__ import annotations

import os

from cachette import _core


def test_engine_module_is_the_requested_build() -> None:
    requested = os.environ.get("CACHETTE_TEST_CORE")
    if requested:  # sanitizer run: the override must really be in use
        assert os.path.samefile(_core.__file__, requested)
    else:
        assert _core.__file__.endswith(".so")
    assert "value_too_large" in _core.ERROR_CODES
