"""Fixtures of the attack suite; the harness itself is attack_harness.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from attack_harness import Server, Servers


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pool = Servers(tmp_path_factory.mktemp("uvicorn"))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def server(request: pytest.FixtureRequest, servers: Servers) -> Server:
    """The server named by the test's parameter ``(parser, backend)``."""
    parser, backend = request.param
    return servers.get(parser, backend)


@pytest.fixture
def token() -> str:
    """A fresh token: each test uses URLs and markers of its own."""
    return uuid.uuid4().hex[:12]
