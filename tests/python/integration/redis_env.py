"""Addresses of the test servers started by scripts/services.sh. A missing variable fails the
test loudly: these tests never skip."""

from __future__ import annotations

import os

import pytest


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/with-services.sh")
    return value
