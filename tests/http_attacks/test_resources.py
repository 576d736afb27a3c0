"""Resource attacks: what an attacker can make the cache write, keep or wait for (issue 18,
items 10 and 12; Vary explosion)."""

from __future__ import annotations

import httpx
import pytest
from attack_harness import CROSS, Server, combo_id


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_uncacheable_urls_fill_the_backend(server: Server, token: str) -> None:
    """200 distinct URLs of a page nothing makes storable (no freshness, no validator) leave
    nothing in the backend."""
    before = server.stored(token)
    with httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        for i in range(200):
            assert client.get(f"/plain/{token}/{i}").text == f"plain {token} {i}"
    left = server.stored(token) - before
    assert left <= 0, f"{left} entries left by 200 responses that cannot be reused"


@pytest.mark.parametrize("server", CROSS, ids=combo_id, indirect=True)
def test_attack_vary_explosion_evicts_or_multiplies_entries(server: Server, token: str) -> None:
    """300 made-up Accept-Language values for one page: the victims' variants stay stored
    and correct, and the attacker's requests store at most one entry each."""
    page = f"/lang/{token}"
    before = server.stored(token)
    with httpx.Client(base_url=server.base_url, timeout=15.0) as client:
        victims = {
            lang: client.get(page, headers={"accept-language": lang}) for lang in ("fr", "de")
        }
        assert victims["fr"].text == f"{token} in fr #1"
        for i in range(300):
            client.get(page, headers={"accept-language": f"x-{i}-{token}"})
        added = server.stored(token) - before
        assert added <= 300 + 2 + 1, f"{added} entries for 302 variants"
        for lang, first in victims.items():
            again = client.get(page, headers={"accept-language": lang})
            assert again.text == first.text, "a victim's variant was evicted or replaced"
