"""One user's page, cookie or account data must never reach another user (issue 18, items
1-3; Set-Cookie; web cache deception; credentials on requests)."""

from __future__ import annotations

import pytest
from attack_harness import CROSS, Server, assert_not_leaked, combo_id

# -- item 1: a cookie-session page without Cache-Control is not stored --------------------------

READ_STORED_PAGE = {
    # the stored page is served however stale it is
    "max-stale": {"cache-control": "max-stale"},
    # ... without the app ever being asked
    "only-if-cached": {"cache-control": "only-if-cached, max-stale"},
    # ... in place of an error the attacker provokes
    "stale-if-error": {"cache-control": "stale-if-error=600", "x-fail": "1"},
}


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("how", list(READ_STORED_PAGE))
def test_attack_stale_read_of_another_users_session_page(
    server: Server, token: str, how: str
) -> None:
    """Alice's session page (no Cache-Control, no validator) must not be kept for the
    attacker to read with max-stale, only-if-cached or stale-if-error."""
    page = f"/session/{token}"
    alice = server.get(page, cookies={"sid": f"alice-{token}"})
    assert alice.status_code == 200 and f"alice-{token}" in alice.text
    attacker = server.get(page, headers=READ_STORED_PAGE[how])
    assert_not_leaked(attacker, f"alice-{token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_session_page_not_stored_without_explicit_freshness(
    server: Server, token: str
) -> None:
    page = f"/session/{token}"
    server.get(page, cookies={"sid": f"alice-{token}"})
    probe = server.get(page, headers={"cache-control": "only-if-cached, max-stale"})
    assert probe.status_code == 504, "the session page was stored"


# -- items 2, 3: what a 304 from the app says when it revalidates a stored entry ------------------


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_set_cookie_on_304_does_not_reach_next_user(server: Server, token: str) -> None:
    page = f"/reval/{token}"
    assert server.get(page).status_code == 200  # a shared page, stored with its ETag
    attacker = server.get(page, headers={"x-mode": "cookie"}, cookies={"sid": f"evil-{token}"})
    assert attacker.status_code == 200
    victim = server.get(page)  # revalidated again (max-age=0): the app sets no cookie now
    assert victim.status_code == 200 and victim.text == f"shared page {token}"
    assert_not_leaked(victim, f"evil-{token}")
    stored = server.get(page, headers={"cache-control": "only-if-cached, max-stale"})
    assert_not_leaked(stored, f"evil-{token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_private_304_is_not_served_to_others(server: Server, token: str) -> None:
    page = f"/reval/{token}"
    assert server.get(page).status_code == 200
    attacker = server.get(page, headers={"x-mode": "private"}, cookies={"sid": f"evil-{token}"})
    assert attacker.status_code == 200
    for headers in ({}, {"cache-control": "only-if-cached, max-stale"}):
        assert_not_leaked(server.get(page, headers=headers), f"evil-{token}")


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_no_store_304_leaves_nothing_stored(server: Server, token: str) -> None:
    page = f"/reval/{token}"
    assert server.get(page).status_code == 200
    attacker = server.get(page, headers={"x-mode": "no-store"}, cookies={"sid": f"evil-{token}"})
    assert attacker.status_code == 200
    probe = server.get(page, headers={"cache-control": "only-if-cached, max-stale"})
    assert_not_leaked(probe, f"evil-{token}")
    assert probe.status_code == 504, "the entry outlived a no-store answer to its revalidation"


# -- Set-Cookie on a 200 ----------------------------------------------------------------------


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_set_cookie_on_200_does_not_reach_next_user(server: Server, token: str) -> None:
    page = f"/welcome/{token}"
    attacker = server.get(page, cookies={"sid": f"evil-{token}"})
    assert f"evil-{token}" in attacker.headers.get("set-cookie", "")
    victim = server.get(page)
    assert victim.status_code == 200
    assert_not_leaked(victim, f"evil-{token}")


# -- requests with credentials ------------------------------------------------------------------

CREDENTIALS = {
    "cookie": lambda t: {"cookie": f"sid=victim-{t}"},
    "authorization": lambda t: {"authorization": f"Bearer victim-{t}"},
}


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("credential", list(CREDENTIALS))
def test_attack_credentialed_page_without_private_is_not_shared(
    server: Server, token: str, credential: str
) -> None:
    """A per-user page whose author forgot ``private`` (``max-age=60`` only), asked for with
    a cookie or an Authorization header, is not handed to the next client."""
    page = f"/profile/{token}"
    victim = server.get(page, headers=CREDENTIALS[credential](token))
    assert f"victim-{token}" in victim.text
    attacker = server.get(page)
    assert_not_leaked(attacker, f"victim-{token}")


# -- web cache deception ----------------------------------------------------------------------

DECEPTIVE_PATHS = ["/account/x.css", "/account;x.css", "/account%2Fx.css", "/account/..%2Fx.js"]


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
@pytest.mark.parametrize("path", DECEPTIVE_PATHS)
def test_attack_web_cache_deception_static_suffix_on_private_page(
    server: Server, token: str, path: str
) -> None:
    """The victim is lured to their account page under a "static" name; the attacker then
    asks for that name. The page has no explicit freshness: it must not have been kept."""
    target = f"{path}?v={token}"
    victim = server.raw_get(target, [("Cookie", f"sid=victim-{token}")])
    assert victim.status == 200 and f"victim-{token}" in victim.text
    for extra in ([("Cache-Control", "max-stale")], []):
        attacker = server.raw_get(target, extra)
        assert_not_leaked(attacker, f"victim-{token}")
