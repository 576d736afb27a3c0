"""Helpers shared by the benchmark scripts: medians, and writing one section of
docs/benchmarks.md between markers so that each script owns only its own section."""

from __future__ import annotations

import pathlib
import platform
import re
import statistics
import time
from collections.abc import Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    return f"{platform.machine()}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def write_section(name: str, body: str) -> None:
    """Replaces the text between the section's markers (appending the section if new)."""
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    DOC.write_text(text)
