"""Fuzzing the code that reads hostile text: the contact extractors, substance matching,
name normalisation, the file readers and the JSON depth guard.

Hypothesis feeds random and adversarial text (fragments of contacts, labels, separators and
brackets, glued at random) and random bytes as CSV, JSONL, JSON and gzip files. Each call
must end without an exception other than the documented rejection (InputFileError for a
file that cannot be read at all, a Rejection row for the rest) and within a deadline.

Random text rarely hits catastrophic backtracking, so the inputs that did are kept below as
explicit tests, each the size of the largest field ingest accepts (100,000 characters):
before the fixes each took from tens of seconds to hours.

CI runs 250 examples per target; PREXUS_FUZZ_EXAMPLES=5000 runs a longer hunt.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.security import json_nested_deeper_than
from graph.limits import MAX_FIELD_CHARS, MAX_JSON_DEPTH
from ingest.identifiers import IDENTIFIER_KINDS, PHONE_CHANNELS, extract_identifiers, parse_contact
from ingest.names import find_company_names, name_similarity, normalise_company, normalise_person
from ingest.readers import InputFileError, RawRecord, Rejection, read_records
from ingest.substances import SubstanceReference

FUZZ = settings(
    max_examples=int(os.environ.get("PREXUS_FUZZ_EXAMPLES", "250")),
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REFERENCE = SubstanceReference.load()
FRAGMENTS = [
    "+86 138 0013 8000", "0086", "(0)", "WhatsApp/Telegram: ", "tg ", "Tel:", " (WhatsApp)",
    "@", "@chem_seller", ":", "::", "=", "-", ".", "a.", "a-b.", "t.me/", "wa.me/86138",
    "sales", "[at]", " at ", " dot ", "(dot)", ".com", "www.", "https://", "live:.cid.",
    "CAS ", "28578-16-7", "PMK", " glycidate", "Co., Ltd.", "GmbH", "bc1q", "0x", "1A1zP1eP",
    "＋８６", "微信：", "\u202e", "\n", " ", ", ", " / ", "or ", "wickr id ", "[", "(", ")",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=10), max_size=60).map("".join)
REGIONS = st.sampled_from([None, "CN", "NL", "DE", "IN", "US", "GB"])

# warm the lazily loaded tables (phone metadata, public suffixes) outside any deadline
extract_identifiers("+86 138 0013 8000 sales@shop-chem.com www.shop.co.uk", "CN")


# --- extractors --------------------------------------------------------------------------


@FUZZ
@given(TEXT, REGIONS)
def test_extract_identifiers_never_fails(text: str, region: str | None) -> None:
    for identifier in extract_identifiers(text, region):
        assert identifier.kind in IDENTIFIER_KINDS
        assert identifier.raw in text


@FUZZ
@given(TEXT, st.sampled_from([None, *IDENTIFIER_KINDS, *sorted(PHONE_CHANNELS), "tg", "web"]),
       REGIONS)  # fmt: skip
def test_parse_contact_never_fails(text: str, kind: str | None, region: str | None) -> None:
    identifier = parse_contact(text, kind, region)
    assert identifier is None or identifier.kind in IDENTIFIER_KINDS


@FUZZ
@given(TEXT)
def test_substance_matching_never_fails(text: str) -> None:
    mentions, _ = REFERENCE.find(text)
    assert len({m.substance.key for m in mentions}) == len(mentions)


@FUZZ
@given(TEXT, TEXT)
def test_name_normalisation_never_fails(a: str, b: str) -> None:
    assert normalise_company(a) == normalise_company(normalise_company(a))
    normalise_person(a)
    find_company_names(a)
    assert 0.0 <= name_similarity(a, b) <= 1.0


def _timed(call: Any, text: str) -> float:
    started = time.perf_counter()
    call(text)
    return time.perf_counter() - started


CATASTROPHIC = [
    ":" * 40 + "+86 138 0013 8000",  # reversed label: 2**n ways to split a separator run
    "a.",  # each dot walked back to the token start and re-matched: quadratic
    "a-b.",
    "::",  # each ':' anchor read the rest of the run
    "a:",  # ... and the rest of the text as a handle value
    "tg ",  # each label word re-read every later word
    "=",
    "live:",
    "telegram telegram ",
    "a@b.com ",  # thousands of identifiers: each claimed span compared with every other
]


@pytest.mark.parametrize("unit", CATASTROPHIC)
def test_no_catastrophic_backtracking_in_a_field_of_the_largest_size(unit: str) -> None:
    text = (unit * (MAX_FIELD_CHARS // len(unit) + 1))[:MAX_FIELD_CHARS]
    for call in (lambda t: extract_identifiers(t, "CN"), parse_contact,
                 lambda t: parse_contact(t, "domain")):  # fmt: skip
        assert _timed(call, text) < 5.0, unit


@pytest.mark.parametrize("unit", ["Co. ", "Ltd ", "Co., Ltd. "])
def test_legal_forms_strip_in_linear_time(unit: str) -> None:
    text = unit * (MAX_FIELD_CHARS // len(unit))
    assert _timed(normalise_company, text) < 5.0
    assert normalise_company("Hubei " + text) == "hubei"


def test_the_separator_run_that_hung_the_contact_parser() -> None:
    """Found by hand after the fuzz pointed at label reading: 64 separators before a
    phone number were 2**63 ways to split; a search query of this shape hung a worker."""
    text = ":" * 64 + "+86 138 0013 8000"
    assert _timed(lambda t: extract_identifiers(t, "CN"), text) < 1.0
    assert [i.value for i in extract_identifiers(text)] == ["+8613800138000"]


# --- readers -----------------------------------------------------------------------------


def _read(path: Path) -> list[RawRecord | Rejection]:
    """Every row, or [] when the whole file is refused (the documented InputFileError)."""
    try:
        rows = list(read_records(path))
    except InputFileError:
        return []
    assert all(isinstance(row, (RawRecord, Rejection)) for row in rows)
    for row in rows:
        if isinstance(row, RawRecord):
            assert isinstance(row.data, dict)
            json.dumps(row.data)  # storable: plain JSON values, finite numbers
    return rows


SUFFIXES = st.sampled_from([".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".csv.gz",
                            ".jsonl.gz", ".json.gz"])  # fmt: skip


@FUZZ
@given(data=st.binary(max_size=3000), suffix=SUFFIXES, compress=st.booleans())
def test_readers_take_any_bytes(tmp_path: Path, data: bytes, suffix: str, compress: bool) -> None:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(gzip.compress(data) if compress and suffix.endswith(".gz") else data)
    _read(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


@FUZZ
@given(records=st.lists(JSON_VALUES, max_size=8), as_array=st.booleans())
def test_readers_take_any_json(tmp_path: Path, records: list[Any], as_array: bool) -> None:
    path = tmp_path / ("input.json" if as_array else "input.jsonl")
    text = json.dumps(records) if as_array else "\n".join(json.dumps(r) for r in records)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    rows = _read(path)
    assert as_array or len(rows) == len(records)


@FUZZ
@given(rows=st.lists(st.lists(TEXT, min_size=1, max_size=5), min_size=1, max_size=8))
def test_readers_take_any_csv(tmp_path: Path, rows: list[list[str]]) -> None:
    path = tmp_path / "input.csv"
    lines = [",".join(json.dumps(cell) if '"' in cell else cell for cell in row) for row in rows]
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _read(path)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 990, 5000, 200_000])
def test_deep_json_is_a_rejected_row_not_a_crash(tmp_path: Path, depth: int) -> None:
    """Depths 500-990 parsed, then overflowed the stack of the depth check (a crash)."""
    body = '{"id": ' + "[" * depth + "]" * depth + "}"
    for name, text in (("deep.jsonl", body + '\n{"id": "next"}\n'),
                       ("deep.json", f'[{body}]')):  # fmt: skip
        (tmp_path / name).write_text(text)
        rows = _read(tmp_path / name)
        assert isinstance(rows[0], Rejection) and "deeper than" in rows[0].reason
        if name.endswith("jsonl"):
            assert isinstance(rows[1], RawRecord)


@pytest.mark.parametrize(
    ("line", "reason"),
    [(b'{"id": ' + b"9" * 5000 + b"}", "digits"),  # int() refused it: a ValueError crash
     (b'{"id": NaN}', "not a number"), (b'{"id": 1e999}', "out of range"),
     (b'{"id": "\\ud800"}', "surrogate"), (b'{"\\u0000": 1}', "field name"),
     (b'{"' + b"k" * 300 + b'": 1}', "field name")],
)  # fmt: skip
def test_json_a_store_cannot_take_is_a_rejected_row(
    tmp_path: Path, line: bytes, reason: str
) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(line + b'\n{"id": "next"}\n')
    rows = _read(path)
    assert isinstance(rows[0], Rejection) and reason in rows[0].reason, rows[0]
    assert isinstance(rows[1], RawRecord)


@pytest.mark.parametrize(
    ("escape", "rejected"),
    [("\\b", True), ("\\f", True), ("\\u0001", True), ("\\udfff", True),
     ("\\\\b", False), ("\\n", False), ("\\t", False), ("\\r", False), ("\\u00e9", False)],
)  # fmt: skip
def test_escapes_are_checked_for_what_they_decode_to(
    tmp_path: Path, escape: str, rejected: bool
) -> None:
    """The reader skips the per-field checks when the raw line cannot decode to a control
    character or surrogate; an escaped backslash or newline must not make it skip a check,
    and an escape that does decode to one must not pass."""
    path = tmp_path / "escapes.jsonl"
    path.write_text('{"id": "a", "text": "x' + escape + 'y"}\n', encoding="utf-8")
    (row,) = _read(path)
    assert isinstance(row, Rejection) is rejected, row
    if not rejected:
        assert row.data["text"] == json.loads('"x' + escape + 'y"')  # type: ignore[union-attr]


def test_an_overlong_line_is_rejected_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl.gz"
    long_line = b'{"text": "' + b"x" * 5_000_000 + b'"}\n'
    path.write_bytes(gzip.compress(b'{"id": 1}\n' + long_line + b'{"id": 3}\n'))
    rows = _read(path)
    assert [type(row).__name__ for row in rows] == ["RawRecord", "Rejection", "RawRecord"]
    assert "longer than" in rows[1].reason  # type: ignore[union-attr]
    assert len(rows[1].raw) <= 2000


def test_a_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(100):
            out.write(bytes(1 << 20))
    with pytest.raises(InputFileError, match="expands more than"):
        list(read_records(path))


# --- the JSON depth guard in front of the API ----------------------------------------------


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@FUZZ
@given(value=JSON_VALUES, levels=st.integers(0, 6))
def test_json_depth_guard_agrees_with_the_parser(value: Any, levels: int) -> None:
    body = json.dumps(value).encode()
    assert json_nested_deeper_than(body, levels) == (_depth(value) > levels)


@FUZZ
@given(st.binary(max_size=2000))
def test_json_depth_guard_takes_any_bytes(body: bytes) -> None:
    json_nested_deeper_than(body, MAX_JSON_DEPTH)
