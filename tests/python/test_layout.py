"""The tree follows the header rule of docs/architecture.md: detail/ is private, src/ has no
headers, and no public header includes a private one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "include" / "cachette"
_INCLUDE_RE = re.compile(r'^#include "(cachette/[^"]+)"', re.MULTILINE)


def test_src_holds_no_headers() -> None:
    assert sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.h*")) == []


def test_no_public_header_includes_a_private_one() -> None:
    offenders = []
    for header in INCLUDE.rglob("*.hpp"):
        if "detail" in header.relative_to(INCLUDE).parts:
            continue
        for included in _INCLUDE_RE.findall(header.read_text()):
            if "/detail/" in included:
                offenders.append(f"{header.relative_to(ROOT)} -> {included}")
    assert offenders == []


def test_protocol_names_only_engine_adapters() -> None:
    # "protocol" means a net::Protocol plug-in; the sans-I/O codecs are encoder/parser.
    for header in INCLUDE.rglob("protocol.hpp"):
        text = header.read_text()
        assert "net::Protocol" in text or header.parent.name == "net", header
