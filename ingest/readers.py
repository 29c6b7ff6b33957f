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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FIELD_CHARS = 100_000
"""Longest value a field may hold (a posting body is rarely over 20k characters)."""
MAX_RECORD_CHARS = 1_000_000
"""Longest raw record (line or array item)."""
MAX_JSON_DEPTH = 20
"""Deepest nesting accepted in a JSON record."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class InputFileError(OSError):
    """A whole file cannot be read (missing, unreadable, not a supported format)."""


@dataclass(slots=True)
class RawRecord:
    """One row as read: where it came from, and its fields."""

    file: str
    line: int
    data: dict[str, Any]
    raw: str


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


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".gz":
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    return handle  # type: ignore[return-value]


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, bytes]]:
    """(line number, text or None when not UTF-8, raw bytes), BOM stripped."""
    try:
        with _open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield number, raw.decode("utf-8"), raw
                except UnicodeDecodeError:
                    yield number, None, raw
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None


def check_value(name: str, value: Any) -> str | None:
    """Why a field value is unacceptable (too long, binary junk), or None when fine."""
    if isinstance(value, str):
        if len(value) > MAX_FIELD_CHARS:
            return f"field longer than {MAX_FIELD_CHARS:,} characters ({len(value):,})"
        if _CONTROL.search(value):
            return "binary or control characters in field"
    elif isinstance(value, list):
        for item in value:
            problem = check_value(name, item)
            if problem:
                return problem
    return None


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _validated(file: str, line: int, data: Any, raw: str) -> RawRecord | Rejection:
    if not isinstance(data, dict):
        return Rejection(file, line, None, "record is not a JSON object", raw)
    if _depth(data) > MAX_JSON_DEPTH:
        return Rejection(file, line, None, f"JSON nested deeper than {MAX_JSON_DEPTH}", raw)
    for name, value in data.items():
        problem = check_value(name, value)
        if problem:
            return Rejection(file, line, str(name), problem, raw[:2000])
    return RawRecord(file, line, data, raw)


def read_jsonl(path: Path) -> Iterator[RawRecord | Rejection]:
    name = str(path)
    for number, text, raw in _decoded_lines(path):
        if text is None:
            yield Rejection(name, number, None, "not valid UTF-8", raw[:2000].decode("latin-1"))
            continue
        stripped = text.strip()
        if not stripped:
            continue
        if len(stripped) > MAX_RECORD_CHARS:
            yield Rejection(name, number, None, f"record longer than {MAX_RECORD_CHARS:,} "
                            "characters", stripped[:2000])
            continue
        try:
            data = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = f"malformed JSON: {exc.msg}" if hasattr(exc, "msg") else "malformed JSON"
            yield Rejection(name, number, None, reason, stripped[:2000])
            continue
        yield _validated(name, number, data, stripped)


def read_csv(path: Path) -> Iterator[RawRecord | Rejection]:
    """CSV with a header row; the line number is the file line where the row starts."""
    name = str(path)
    pending: list[tuple[int, str]] = []

    def lines() -> Iterator[str]:
        for number, text, raw in _decoded_lines(path):
            if text is None:
                pending.append((number, raw[:2000].decode("latin-1")))
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
        raise InputFileError(f"{path}: the header row is not valid UTF-8")
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
            bad_line, raw = pending.pop(0)
            yield Rejection(name, bad_line, None, "not valid UTF-8", raw)
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
            blob = handle.read()
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise InputFileError(f"{path}: expected a JSON array of records")
    pos = _skip_space(text, pos + 1)
    while pos < len(text) and text[pos] != "]":
        line = text.count("\n", 0, pos) + 1
        try:
            data, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError):
            yield Rejection(name, line, None, "malformed JSON in array; the rest of the file "
                            "from here is in raw", text[pos:])
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


def read_records(path: Path) -> Iterator[RawRecord | Rejection]:
    """Every row of one file, as records or rejections."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    return READERS[file_format(path)](path)
