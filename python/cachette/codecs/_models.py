"""The ``default`` hook shared by the JSON-like codecs: pydantic models are dumped in JSON
mode; anything else the library cannot represent is refused with a TypeError naming its type.
The hook runs only for values the library does not handle natively, so it costs nothing on
the common path."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def dump_model(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"values of type {type(obj).__name__} are not supported")
