"""Header parsing of the HTTP cache: Cache-Control, delta-seconds, dates, entity tags."""

from __future__ import annotations

import pytest

from cachette.http.directives import (
    MAX_DELTA,
    etag_matches,
    parse_cache_control,
    parse_delta,
    parse_etag_list,
    parse_http_date,
    surrogate_directives,
)

EPOCH_1994 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


def test_cache_control_names_are_case_insensitive_and_lines_combine() -> None:
    cc = parse_cache_control(["Max-Age=60, PUBLIC", "no-cache"])
    assert cc == {"max-age": "60", "public": None, "no-cache": None}


def test_cache_control_quoted_arguments_keep_their_commas() -> None:
    cc = parse_cache_control('no-cache="set-cookie, x-foo", max-age=5')
    assert cc == {"no-cache": "set-cookie, x-foo", "max-age": "5"}


def test_cache_control_first_value_of_a_repeated_directive_wins() -> None:
    assert parse_cache_control("max-age=10, max-age=20")["max-age"] == "10"


def test_cache_control_of_nothing_is_empty() -> None:
    assert parse_cache_control(None) == {}
    assert parse_cache_control([]) == {}
    assert parse_cache_control(" , ,") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("3600", 3600), ("007", 7), ("99999999999", MAX_DELTA)],
)
def test_delta_seconds(text: str, expected: int) -> None:
    assert parse_delta(text) == expected


@pytest.mark.parametrize("text", [None, "", "-1", "1.5", "abc", '"10"', "1 0", "١٢"])
def test_delta_seconds_refuses_anything_else(text: str | None) -> None:
    assert parse_delta(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ],
)
def test_http_dates_in_all_three_formats(text: str) -> None:
    assert parse_http_date(text) == EPOCH_1994


@pytest.mark.parametrize(
    "text", [None, "", "0", "-1", "yesterday", "Sun, 06 Nov 1994 08:49:37 +0100"]
)
def test_invalid_http_dates(text: str | None) -> None:
    assert parse_http_date(text) is None


def test_etag_lists_and_comparison() -> None:
    tags = parse_etag_list('W/"a", "b" ,"c"')
    assert tags == ['W/"a"', '"b"', '"c"']
    assert parse_etag_list("*") is None
    assert etag_matches('"a"', tags)  # weak comparison ignores W/
    assert not etag_matches('"a"', tags, weak=False)
    assert etag_matches('"b"', tags, weak=False)
    assert not etag_matches('"z"', tags)
    assert etag_matches('"anything"', None)


def test_surrogate_control_keeps_untargeted_and_own_directives() -> None:
    values = ["max-age=60, no-store;other", "max-age=5;me"]
    assert surrogate_directives(values, "me") == {"max-age": "5"}
    assert surrogate_directives(values, "someone") == {"max-age": "60"}
