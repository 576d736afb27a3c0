"""The file backend (``backend="pickle"``): an LMDB file shared by every process on the host
that names the same ``pickle_path``. Values keep their Python type through the pickle codec
(the default for this backend). See docs/file-backend.md."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cachette import _core
from cachette.backends.base import LocalBackend

if TYPE_CHECKING:
    from cachette.config import CachetteConfig


def check(config: CachetteConfig) -> None:
    """Refuses paths that cannot name a file; the store itself checks the rest when it
    opens (inside ``load_config``), leaving any foreign file untouched."""
    path = config.pickle_path
    if not path:
        return
    if os.path.isdir(path):
        raise ValueError(f'The "pickle_path" value {path!r} is a directory; name a file.')
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise ValueError(
            f'The "pickle_path" value {path!r} is in {parent!r}, which is not a directory.'
        )


def create(config: CachetteConfig) -> LocalBackend:
    assert config.pickle_path is not None  # required by the configuration
    return LocalBackend(_core.FileStore(config.pickle_path, max_size=config.pickle_max_size))
