"""memcached_host validation at load_config (no server needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cachette import Cachette
from cachette.backends.memcached import ServerSpec, parse_servers


def load(host: object) -> None:
    Cachette.load_config(lambda: [("backend", "memcached"), ("memcached_host", host)])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cache1", [ServerSpec(host="cache1")]),
        ("10.0.0.1:11300", [ServerSpec(host="10.0.0.1", port=11300)]),
        ("[::1]:11300", [ServerSpec(host="::1", port=11300)]),
        ("[::1]", [ServerSpec(host="::1")]),
        ("unix:/run/memcached.sock", [ServerSpec(unix_path="/run/memcached.sock")]),
        ("memcached://h:1", [ServerSpec(host="h", port=1)]),
        (
            "memcached://u%40x:p%3As@h",
            [ServerSpec(host="h", username="u@x", password="p:s")],
        ),
        ("memcacheds://h:2", [ServerSpec(host="h", port=2, tls=True)]),
        (
            " a:1 , b:2,unix:/s ",
            [
                ServerSpec(host="a", port=1),
                ServerSpec(host="b", port=2),
                ServerSpec(unix_path="/s"),
            ],
        ),
    ],
)
def test_accepted_forms(text: str, expected: list[ServerSpec]) -> None:
    assert parse_servers(text) == expected
    load(text)


@pytest.mark.parametrize(
    "text",
    [
        "host:0",
        "host:65536",
        "host:port",
        "a:1,,b:2",
        "unix:relative.sock",
        "redis://h:1",
        "memcached://h:1/0",
        "memcached://user@h:1",
        "memcached://:pw@h:1",
        "::1:11211",
        "[::1:11211",
        "a b:1",
        "a:1,a:1",
        ":11211",
    ],
)
def test_rejected_forms_name_the_key(text: str) -> None:
    with pytest.raises(ValidationError, match="memcached_host"):
        load(text)


def test_null_host_keeps_the_established_message() -> None:
    with pytest.raises(ValidationError) as info:
        load(None)
    assert 'The "memcached_host" cannot be null when using memcached as backend.' in str(info.value)


def test_credentials_never_in_messages_or_reprs() -> None:
    secret = "s3cr3t-value"
    with pytest.raises(ValidationError) as info:
        load(f"memcached://user:{secret}@host:99999")
    assert secret not in str(info.value)
    with pytest.raises(ValidationError) as info:
        load(f"memcached://user:{secret}@h:1,memcached://user:{secret}@h:1")
    assert secret not in str(info.value)
    (spec,) = parse_servers(f"memcached://user:{secret}@h:1")
    assert secret not in repr(spec) and secret not in spec.name
