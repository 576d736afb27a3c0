"""MongoDB configuration: everything wrong fails at load_config with a ValidationError that
names the key, and the URL's password never appears in a message or repr. No server needed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cachette import Cachette
from cachette.backends.mongodb import MongoBackend, connect

SECRET = "s3cr3t-pw"


def load(*pairs: tuple[str, object]) -> None:
    Cachette.load_config(lambda: [("backend", "mongodb"), *pairs])


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://localhost:27017",  # the 0.1.x README's configuration, unchanged
        "mongodb://localhost",
        f"mongodb://user:{SECRET}@db1:27017,db2:27018/admin?replicaSet=rs0&tls=true",
        "mongodb+srv://cluster0.example.net/?retryWrites=true",
        "mongodb://%2Ftmp%2Fmongodb-27017.sock",
    ],
)
def test_valid_urls_load(url: str) -> None:
    load(("mongodb_url", url))
    assert Cachette.config().mongodb_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://localhost:6379", "must start with mongodb:// or mongodb+srv://"),
        ("localhost:27017", "must start with mongodb:// or mongodb+srv://"),
        (f"mongodb://user:{SECRET}@db:99999", "Port could not be parsed"),
        (f"mongodb://user:{SECRET}@", "Empty hostname"),
        (f"mongodb+srv://user:{SECRET}@a.example.net:27017", "Port number"),
        (f"mongodb://user:{SECRET}@db/?tls=maybe", 'Unsupported value for "tls"'),
        (f"mongodb://user:{SECRET}@db/?tsl=true", 'Unsupported URI option "tsl"'),
        ("mongodb://user:p%zz@db", "Incorrect URI escapes in password"),
    ],
)
def test_bad_url_fails_at_load_config_without_the_password(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load(("mongodb_url", url))
    text = str(caught.value)
    assert '"mongodb_url"' in text
    assert problem in text
    assert SECRET not in text
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    "name",
    ["with.dot", "with space", "a/b", "a\\b", "dollar$", 'quote"', "star*", "nul\0", "x" * 64],
)
def test_database_names_mongodb_refuses(name: str) -> None:
    with pytest.raises(ValidationError, match='"database_name"'):
        load(("mongodb_url", "mongodb://localhost"), ("database_name", name))


@pytest.mark.parametrize("name", ["system.users", "a$b", "nul\0", ".hidden", "x" * 250])
def test_collection_names_mongodb_refuses(name: str) -> None:
    with pytest.raises(ValidationError, match='"table_name"'):
        load(("mongodb_url", "mongodb://localhost"), ("table_name", name))


def test_names_mongodb_accepts() -> None:
    load(
        ("mongodb_url", "mongodb://localhost"),
        ("database_name", "cachette-db_2"),
        ("table_name", "cache.entries-v2"),
    )
    assert Cachette.config().table_name == "cache.entries-v2"


def test_missing_tls_file_fails_at_load_config() -> None:
    with pytest.raises(ValidationError, match='"tls_ca_file"'):
        load(("mongodb_url", "mongodb://localhost"), ("tls_ca_file", "/nonexistent/ca.pem"))


def test_the_backend_names_hosts_never_credentials() -> None:
    client = connect(f"mongodb://user:{SECRET}@db1:27017,db2:27018/?authSource=admin")
    backend = MongoBackend(client, "cachette-db", "cachette")
    assert client.name == "mongodb db1:27017,db2:27018"
    assert SECRET not in repr(backend)
    assert "db1:27017" in repr(backend)
    client.close()
