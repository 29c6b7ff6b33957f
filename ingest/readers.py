"""Read input files into raw records, streaming, and never lose a row.

CSV (header row), JSON Lines and JSON arrays, optionally gzipped, UTF-8 with or without a
byte-order mark. Every row comes out either as a `RawRecord` or as a `Rejection` naming the
file, line and field, with the raw text, so the loader can put it in the rejects file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.limits import (
    GZIP_RATIO_FROM_BYTES,
    MAX_FIELD_CHARS,
    MAX_FIELD_NAME_CHARS,
    MAX_GZIP_RATIO,
    MAX_JSON_ARRAY_BYTES,
    MAX_JSON_DEPTH,
    MAX_RECORD_CHARS,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""Lone UTF-16 surrogates (JSON can write them as escapes): not text, and no store takes them."""
_MAX_LINE_BYTES = 4 * MAX_RECORD_CHARS + 4
"""A line of MAX_RECORD_CHARS characters is at most this long in UTF-8 (BOM and newline
too); a longer line is rejected without ever being held whole."""


class InputFileError(OSError):
    """A whole file cannot be read (missing, unreadable, not a supported format)."""


@dataclass(slots=True)
class RawRecord:
    """One row as read: where it came from, and its fields."""

    file: str
    line: int
    data: dict[str, Any]
    raw: str
    """The row's text: for the reading process's progress count (rejections quote `data`)."""

    def __reduce__(self) -> tuple[type[RawRecord], tuple[str, int, dict[str, Any], str]]:
        """Pickled for an ingest worker without `raw`, which it does not use: that halves
        what the reading process sends."""
        return RawRecord, (self.file, self.line, self.data, "")


@dataclass(slots=True)
class Rejection:
    """Why a row could not be taken; written to the rejects file as JSON."""

    file: str
    line: int
    field: str | None
    reason: str
    raw: str | dict[str, Any] = field(default="")

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
            "raw": self.raw,
        }

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


def file_format(path: Path) -> str:
    """'csv', 'jsonl' or 'json' from the name (a .gz suffix is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    ext = suffixes[-1] if suffixes else ""
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    if ext == ".json":
        return "json"
    raise InputFileError(f"{path}: unsupported file type (expected .csv, .jsonl or .json[.gz])")


class _GzipReader(gzip.GzipFile):
    """A gzip stream that refuses to expand past MAX_GZIP_RATIO times its compressed size
    (once past GZIP_RATIO_FROM_BYTES): a small upload must not become terabytes to read."""

    def __init__(self, path: Path, handle: io.BufferedReader) -> None:
        super().__init__(fileobj=handle)
        self._path, self._compressed = path, handle

    def _check_ratio(self) -> None:
        expanded = self.tell()
        if expanded > GZIP_RATIO_FROM_BYTES and expanded > MAX_GZIP_RATIO * max(
            self._compressed.tell(), 1
        ):
            raise InputFileError(
                f"{self._path}: expands more than {MAX_GZIP_RATIO} times; not read "
                "(a decompression bomb?)"
            )

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all when negative), a megabyte at a time, checking the ratio
        after each, so a bomb stops at the first megabytes rather than at `size`."""
        wanted = -1 if size is None or size < 0 else size
        parts, got = [], 0
        while wanted < 0 or got < wanted:
            step = 1 << 20 if wanted < 0 else min(1 << 20, wanted - got)
            chunk = super().read(step)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
            self._check_ratio()
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self._check_ratio()
        return line


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".gz":
        return _GzipReader(path, handle)  # type: ignore[return-value]
    return handle  # type: ignore[return-value]


def _bounded_lines(handle: io.BufferedIOBase) -> Iterator[tuple[bytes, bool]]:
    """(line, whether it was too long) for each line; a line over _MAX_LINE_BYTES is read
    past in bounded steps and only its first 2,000 bytes come out, so memory stays bounded
    whatever the file holds (one 10 GB line, a gzip of zeros)."""
    while line := handle.readline(_MAX_LINE_BYTES):
        if len(line) < _MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line, False
            continue
        while (rest := handle.readline(_MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield line[:2000], True


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, bytes, str]]:
    """(line number, text or None, raw bytes, why the text is None), BOM stripped."""
    try:
        with _open_binary(path) as handle:
            for number, (raw, too_long) in enumerate(_bounded_lines(handle), start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                if too_long:
                    yield number, None, raw, f"record longer than {MAX_RECORD_CHARS:,} characters"
                    continue
                try:
                    yield number, raw.decode("utf-8"), raw, ""
                except UnicodeDecodeError:
                    yield number, None, raw, "not valid UTF-8"
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None


def check_value(name: str, value: Any) -> str | None:
    """Why a field value is unacceptable (too long, binary junk), or None when fine."""
    if isinstance(value, str):
        if len(value) > MAX_FIELD_CHARS:
            return f"field longer than {MAX_FIELD_CHARS:,} characters ({len(value):,})"
        if _CONTROL.search(value):
            return "binary or control characters in field"
        if _SURROGATE.search(value):
            return "unpaired surrogate escape in field (not text)"
    elif isinstance(value, list):
        for item in value:
            problem = check_value(name, item)
            if problem:
                return problem
    return None


def check_name(name: str) -> str | None:
    """Why a field name is unacceptable (it becomes a property name), or None when fine."""
    if len(name) > MAX_FIELD_NAME_CHARS:
        return f"field name longer than {MAX_FIELD_NAME_CHARS} characters"
    if _CONTROL.search(name) or _SURROGATE.search(name):
        return "binary or control characters in field name"
    return None


def _deeper_than(value: Any, levels: int) -> bool:
    """Whether lists and objects nest more than `levels` deep: level by level, without
    recursion (a record the JSON parser took may still be too deep for Python's stack)."""
    containers = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while containers:
        depth += 1
        if depth > levels:
            return True
        containers = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, (dict, list))
        ]
    return False


_SUSPECT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]|\\[bfu]")
"""What a field could fail check_value by: a control character, a surrogate, or a JSON
escape that decodes to one (\\b, \\f, \\u). Postings are full of \\n, which cannot."""
_GOOD_NAMES_MAX = 4096
_good_names: set[str] = set()
"""Field names check_name accepted: the same dozen recur in every record of a file."""


def _name_problem(name: str) -> str | None:
    if name in _good_names:
        return None
    problem = check_name(name)
    if problem is None and len(_good_names) < _GOOD_NAMES_MAX:
        _good_names.add(name)
    return problem


def _validated(file: str, line: int, data: Any, raw: str) -> RawRecord | Rejection:
    """The record, or why it is rejected.

    Every string value in `data` is a stretch of `raw` (its JSON text or its CSV cells),
    unless an escape made it. So when `raw` holds no backslash, control character or
    surrogate and is no longer than a field may be, no value can fail check_value, and
    `data` holds at most as many containers as `raw` has brackets: the per-field checks,
    a fifth of reading, are skipped with the same outcome.
    """
    if not isinstance(data, dict):
        return Rejection(file, line, None, "record is not a JSON object", raw[:2000])
    brackets = raw.count("{") + raw.count("[")
    if brackets > MAX_JSON_DEPTH and _deeper_than(data, MAX_JSON_DEPTH):
        return Rejection(file, line, None, f"JSON nested deeper than {MAX_JSON_DEPTH}", raw[:2000])
    for name in data:
        problem = _name_problem(name)
        if problem:
            return Rejection(file, line, None, problem, raw[:2000])
    if len(raw) <= MAX_FIELD_CHARS and not _SUSPECT.search(raw):
        return RawRecord(file, line, data, raw)
    for name, value in data.items():
        problem = check_value(name, value)
        if problem:
            return Rejection(file, line, str(name), problem, raw[:2000])
    return RawRecord(file, line, data, raw)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number out of range: {text[:40]}")
    return number


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
"""Standard JSON only: NaN, Infinity and overflowing numbers are rejected, not stored."""


def _json_problem(exc: ValueError | RecursionError) -> str:
    """The rejection reason for a record the decoder refused."""
    if isinstance(exc, json.JSONDecodeError):
        return f"malformed JSON: {exc.msg}"
    if isinstance(exc, RecursionError):
        return f"JSON nested deeper than {MAX_JSON_DEPTH}"
    return f"malformed JSON: {str(exc)[:200]}"  # a number too long or out of range


@dataclass(slots=True)
class JsonLine:
    """A JSONL line read but not decoded yet (`read_records(..., decode=False)`): an ingest
    with worker processes leaves decoding and checking to them, so the one reading process
    only splits lines, and sends one string per record instead of a dict of fields."""

    file: str
    line: int
    raw: str

    def decoded(self) -> RawRecord | Rejection:
        """What `read_records` would have given for this line."""
        return _json_record(self.file, self.line, self.raw)


Row = RawRecord | Rejection | JsonLine
"""What reading a file gives: a record, a rejection, or a JSONL line still to decode."""


def _json_record(name: str, number: int, stripped: str) -> RawRecord | Rejection:
    if len(stripped) > MAX_RECORD_CHARS:
        return Rejection(name, number, None, f"record longer than {MAX_RECORD_CHARS:,} "
                         "characters", stripped[:2000])
    try:
        data = _DECODER.decode(stripped)
    except (ValueError, RecursionError) as exc:
        return Rejection(name, number, None, _json_problem(exc), stripped[:2000])
    return _validated(name, number, data, stripped)


def read_jsonl(path: Path, decode: bool = True) -> Iterator[Row]:
    name = str(path)
    for number, text, raw, problem in _decoded_lines(path):
        if text is None:
            yield Rejection(name, number, None, problem, raw[:2000].decode("latin-1"))
            continue
        stripped = text.strip()
        if stripped:
            yield _json_record(name, number, stripped) if decode else JsonLine(
                name, number, stripped
            )


def read_csv(path: Path) -> Iterator[RawRecord | Rejection]:
    """CSV with a header row; the line number is the file line where the row starts."""
    name = str(path)
    pending: list[tuple[int, str, str]] = []  # line, why, raw

    def lines() -> Iterator[str]:
        for number, text, raw, problem in _decoded_lines(path):
            if text is None:
                pending.append((number, problem, raw[:2000].decode("latin-1")))
                yield "\n"  # keep csv's row count in step; the row is rejected below
                continue
            yield text

    reader = csv.reader(lines(), strict=False)
    csv.field_size_limit(MAX_RECORD_CHARS)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputFileError(f"{path}: cannot read the header row: {exc}") from None
    columns = [c.strip() for c in header]
    if pending:
        raise InputFileError(f"{path}: the header row: {pending[0][1]}")
    for column in columns:
        if problem := check_name(column):
            raise InputFileError(f"{path}: the header row: {problem}")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Rejection(name, start, None, f"malformed CSV: {exc}", "")
            start = reader.line_num + 1
            continue
        line = start
        start = reader.line_num + 1
        if pending and pending[0][0] <= line:
            bad_line, problem, raw = pending.pop(0)
            yield Rejection(name, bad_line, None, problem, raw)
            continue
        if not cells or cells == [""]:
            continue
        raw = ",".join(cells)
        if len(cells) > len(columns):
            yield Rejection(name, line, None, f"{len(cells)} cells but {len(columns)} columns",
                            raw)
            continue
        data = {col: cell for col, cell in zip(columns, cells, strict=False) if cell != ""}
        yield _validated(name, line, data, raw)


def read_json_array(path: Path) -> Iterator[RawRecord | Rejection]:
    """A JSON array of objects, decoded item by item (the file is read whole: arrays
    cannot be streamed by line; prefer JSONL for large exports)."""
    name = str(path)
    try:
        with _open_binary(path) as handle:
            blob = handle.read(MAX_JSON_ARRAY_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    if len(blob) > MAX_JSON_ARRAY_BYTES:
        raise InputFileError(
            f"{path}: a JSON array over {MAX_JSON_ARRAY_BYTES:,} bytes; write JSONL instead"
        )
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    pos = _skip_space(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise InputFileError(f"{path}: expected a JSON array of records")
    pos = _skip_space(text, pos + 1)
    line, counted = 1, 0  # lines counted up to `counted`: each item adds its own stretch
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            data, end = _DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            yield Rejection(name, line, None, f"{_json_problem(exc)} in array; the rest of the "
                            "file from here is in raw", text[pos:])
            return
        yield _validated(name, line, data, text[pos:end])
        pos = _skip_space(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


READERS = {"csv": read_csv, "jsonl": read_jsonl, "json": read_json_array}


def read_records(path: Path, decode: bool = True) -> Iterator[Row]:
    """Every row of one file, as records or rejections; with `decode` False the lines of a
    JSONL file come as `JsonLine`s, to decode where the records are built."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    kind = file_format(path)
    if kind == "jsonl" and not decode:
        return read_jsonl(path, decode=False)
    return READERS[kind](path)
