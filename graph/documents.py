"""Dataclasses kept as workspace documents (GraphStore.put_document): cases and their
records, watches and their alerts."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Self


class Document:
    """Mixin for dataclasses stored as documents: plain dicts out, unknown keys ignored on
    the way in, so an older or newer document still reads."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def of(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})
