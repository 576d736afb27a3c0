"""Configuration is plain data; the checks that need backends and codecs run at startup."""

from __future__ import annotations

import ast
from pathlib import Path

import pydantic
import pytest

import cachette.config
from cachette import Cachette
from cachette.config import CachetteConfig


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_config_module_imports_neither_backends_nor_codecs() -> None:
    imported = _imported_modules(Path(cachette.config.__file__))
    reaching_up = {
        name
        for name in imported
        if name.startswith(("cachette.backends", "cachette.codecs", "cachette.core"))
    }
    assert reaching_up == set()


def test_config_alone_holds_a_url_the_backend_would_refuse() -> None:
    # Plain data: the model checks values on their own; the URL scheme is the backend's business.
    config = CachetteConfig(backend="redis", redis_url="http://localhost:1")
    assert config.redis_url == "http://localhost:1"


def test_load_config_still_refuses_it_naming_the_key() -> None:
    before = Cachette.config()
    with pytest.raises(pydantic.ValidationError, match='The "redis_url" value must start with'):
        Cachette.load_config(lambda: [("backend", "redis"), ("redis_url", "http://localhost:1")])
    assert Cachette.config() is before  # a failed load_config replaces nothing


def test_startup_errors_never_echo_the_input() -> None:
    secret = "mongodb://user:hunter2@localhost:27017"
    with pytest.raises(pydantic.ValidationError) as info:
        Cachette.load_config(
            lambda: [("backend", "mongodb"), ("mongodb_url", secret), ("table_name", "$bad")]
        )
    assert 'The "table_name" value' in str(info.value)
    assert "hunter2" not in str(info.value)
