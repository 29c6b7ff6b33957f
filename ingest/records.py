"""The public record formats, declared once: field names, which are required, how each
value is checked and normalised.

A record that fails a check becomes a `FieldError` naming the field and the reason; the
loader turns it into a rejects-file row. Fields not declared here are kept as properties.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import phonenumbers

from ingest.substances import is_valid_cas


class FieldError(ValueError):
    """A field's value is unusable; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


COUNTRY_CODES: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


def text(value: Any) -> str:
    if type(value) is str:  # nearly every value: skip the structure check
        return value.strip()
    if isinstance(value, (dict, list)):
        raise ValueError("expected text, got a structure")
    return str(value).strip()


def iso_date(value: Any) -> str:
    """An ISO date or datetime, kept as ISO text (a datetime keeps its time)."""
    raw = text(value)
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw).isoformat()
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date: {raw[:40]!r}") from None
    return parsed.isoformat()


_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, (int, float)):
        return value
    raw = text(value)
    if not _NUMBER.match(raw):
        raise ValueError(f"not a number: {raw[:40]!r}")
    parsed = float(raw.replace(",", ""))
    return int(parsed) if parsed.is_integer() and "." not in raw else parsed


def country(value: Any) -> str:
    code = text(value).upper()
    code = _COUNTRY_ALIASES.get(code, code)
    if code not in COUNTRY_CODES:
        raise ValueError(f"not an ISO 3166 alpha-2 country code: {code[:20]!r}")
    return code


def string_list(value: Any) -> list[str]:
    """A JSON list, or text separated by ';' (CSV cells)."""
    if isinstance(value, list):
        items = [text(v) for v in value]
    else:
        raw = text(value)
        if raw.startswith("["):
            try:
                loaded = json.loads(raw)
            except json.JSONDecodeError:
                loaded = None
            if isinstance(loaded, list):
                return string_list(loaded)
        items = [part.strip() for part in raw.split(";")]
    return [item for item in items if item]


def country_list(value: Any) -> list[str]:
    return [country(v) for v in string_list(value)]


def cas(value: Any) -> str:
    raw = text(value)
    if not is_valid_cas(raw):
        raise ValueError(f"invalid CAS number (check digit or shape): {raw[:30]!r}")
    return raw


def cas_list(value: Any) -> list[str]:
    return [cas(v) for v in string_list(value)]


def yes_no(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raw = text(value).lower()
    if raw in ("yes", "y", "true", "1"):
        return True
    if raw in ("no", "n", "false", "0"):
        return False
    raise ValueError(f"expected yes or no: {raw[:20]!r}")


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        raw = text(value).lower()
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}: {raw[:30]!r}")
        return raw

    return check


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    parse: Callable[[Any], Any] = text
    required: bool = False


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """One input kind: its fields and which field dates the record."""

    kind: str
    fields: tuple[FieldSpec, ...]
    date_field: str | None = None
    doc: str = ""
    declared: frozenset[str] = field(init=False, repr=False, compare=False)
    """The field names, built once rather than per record."""
    _checks: tuple[tuple[str, Callable[[Any], Any], bool], ...] = field(
        init=False, repr=False, compare=False
    )
    """(name, parse, required) of each field: read per record without attribute look-ups."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "declared", frozenset(spec.name for spec in self.fields))
        checks = tuple((spec.name, spec.parse, spec.required) for spec in self.fields)
        object.__setattr__(self, "_checks", checks)

    def parse(self, data: dict[str, Any]) -> dict[str, Any]:
        """Checked and normalised fields; unknown fields pass through as text."""
        declared = self.declared
        out: dict[str, Any] = {}
        for name, parse, required in self._checks:
            value = data.get(name)
            if not value and (value is None or value == "" or value == []):  # a JSON value
                if required:
                    raise FieldError(name, "required field is missing")
                continue
            try:
                out[name] = parse(value)
            except ValueError as exc:
                raise FieldError(name, str(exc)) from None
        for name, value in data.items():
            if name not in declared and value not in (None, "", []):
                out[name] = value if isinstance(value, (int, float, bool)) else _extra(value)
        return out


def _extra(value: Any) -> str | list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


F = FieldSpec
SPECS: dict[str, RecordSpec] = {
    spec.kind: spec
    for spec in (
        RecordSpec(
            "postings",
            (
                F("id", required=True),
                F("platform", required=True),
                F("url"),
                F("posted_at", iso_date),
                F("kind", one_of("offer", "request")),
                F("title"),
                F("text"),
                F("author"),
                F("country", country),
                F("contacts", string_list),
                F("price"),
                F("quantity"),
                F("removed_at", iso_date),
                F("removed_by"),
            ),
            date_field="posted_at",
            doc="Adverts and requests from monitoring exports.",
        ),
        RecordSpec(
            "platforms",
            (
                F("name", required=True),
                F("domain"),
                F("kind", one_of("b2b", "social", "marketplace", "forum", "messenger",
                                 "website")),
                F("country", country),
                F("cooperation", yes_no),
            ),
            doc="Sites where postings appear.",
        ),
        RecordSpec(
            "contacts",
            (F("value", required=True), F("kind"), F("owner"), F("note")),
            doc="Known contacts from earlier casework.",
        ),
        RecordSpec(
            "seizures",
            (
                F("id", required=True),
                F("date", iso_date),
                F("substance"),
                F("cas", cas),
                F("quantity", number),
                F("unit"),
                F("country", country),
                F("origin_country", country),
                F("transit_countries", country_list),
                F("destination_country", country),
                F("consignor"),
                F("consignee"),
                F("contacts", string_list),
                F("route_id"),
                F("source"),
            ),
            date_field="date",
            doc="Seizure incidents (e.g. as exchanged through INCB PICS).",
        ),
        RecordSpec(
            "routes",
            (
                F("id", required=True),
                F("origin_country", country),
                F("transit_countries", country_list),
                F("destination_country", country),
                F("mode"),
            ),
            doc="Trafficking routes.",
        ),
        RecordSpec(
            "operators",
            (
                F("id", required=True),
                F("name", required=True),
                F("country", country),
                F("registration_no"),
                F("substances", cas_list),
                F("contacts", string_list),
                F("valid_from", iso_date),
                F("valid_to", iso_date),
            ),
            date_field="valid_from",
            doc="Registers of licensed operators.",
        ),
        RecordSpec(
            "links",
            (
                F("source", required=True),
                F("target", required=True),
                F("weight", number),
                F("type"),
                F("source_kind"),
                F("target_kind"),
                F("date", iso_date),
            ),
            date_field="date",
            doc="Generic analyst edge lists (i2, Gephi, UCINET).",
        ),
    )
}

RECORD_KINDS: tuple[str, ...] = tuple(SPECS)
