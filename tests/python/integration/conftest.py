"""Everything in this folder needs the real servers of scripts/services.sh: the integration
marker is applied here too, so that no test of the folder runs under -m "not integration"."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)
