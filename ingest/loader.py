"""Bulk ingest: files -> records -> entities -> store, in batches, losing nothing.

Every row read ends in the store or in the rejects file (JSONL: file, line, field, reason,
raw row). A batch the store refuses is retried record by record, so one bad record is
rejected with the store's reason while the rest lands.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, TextIO

from graph.schema import Label, Provenance, now_iso
from graph.store import GraphStore, StoreError, StoreUnavailableError, WriteStats
from ingest.entities import BUILDERS, Entities, IngestContext
from ingest.readers import InputFileError, RawRecord, Rejection, read_records
from ingest.records import SPECS, FieldError
from ingest.substances import SubstanceReference

DEFAULT_BATCH = 2000
DEFAULT_MAX_REJECT_RATE = 0.05


@dataclass(slots=True)
class IngestSummary:
    """Per-record outcome counts of one run."""

    kind: str
    read: int = 0
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    unreadable_files: list[str] = field(default_factory=list)
    rejects_path: str | None = None
    store: WriteStats = field(default_factory=WriteStats)

    @property
    def reject_rate(self) -> float:
        return self.rejected / self.read if self.read else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "read": self.read,
            "ingested": self.ingested,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "unreadable_files": self.unreadable_files,
            "rejects_path": self.rejects_path,
        }


class RejectsFile:
    """The JSONL file rejected rows go to; created on the first rejection only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self.count = 0

    def write(self, rejection: Rejection) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(rejection.as_json(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def default_rejects_path(kind: str) -> Path:
    stamp = now_iso().replace(":", "").replace("+0000", "Z")
    return Path("rejects") / f"{kind}-{stamp}.jsonl"


def record_provenance(
    source: str, record: RawRecord, parsed: dict[str, Any], date_field: str | None, at: str
) -> Provenance:
    """Source name, the record's own id (else file:line), and its date as first/last seen."""
    record_id = str(parsed.get("id") or f"{Path(record.file).name}:{record.line}")
    when = parsed.get(date_field) if date_field else None
    day = str(when)[:10] if when else None
    return Provenance(source, record_id, day, day, at)


@dataclass(slots=True)
class Built:
    """A record turned into entities, or its rejection."""

    record: RawRecord | Rejection
    entities: Entities | None = None
    rejection: Rejection | None = None


class EntityBuilder:
    """Parses and builds one kind of record; lives in each worker process."""

    def __init__(self, kind: str, context: IngestContext, ingested_at: str) -> None:
        self.spec = SPECS[kind]
        self.build_entities = BUILDERS[kind]
        self.context = context
        self.ingested_at = ingested_at

    def __call__(self, item: RawRecord | Rejection) -> Built:
        if isinstance(item, Rejection):
            return Built(item, rejection=item)
        try:
            parsed = self.spec.parse(item.data)
            prov = record_provenance(
                self.context.source, item, parsed, self.spec.date_field, self.ingested_at
            )
            return Built(item, self.build_entities(parsed, self.context, prov))
        except FieldError as exc:
            return Built(item, rejection=_reject(item, exc.field, exc.reason))
        except ValueError as exc:  # a schema check deeper down, e.g. a key field empty
            return Built(item, rejection=_reject(item, None, str(exc)))


def _reject(item: RawRecord, field_name: str | None, reason: str) -> Rejection:
    return Rejection(item.file, item.line, field_name, reason, item.data)


_worker_builder: EntityBuilder | None = None


def _init_worker(kind: str, context: IngestContext, ingested_at: str) -> None:
    global _worker_builder
    _worker_builder = EntityBuilder(kind, context, ingested_at)


def _build_chunk(items: list[RawRecord | Rejection]) -> list[Built]:
    assert _worker_builder is not None
    return [_worker_builder(item) for item in items]


def known_platforms(store: GraphStore, context: IngestContext) -> None:
    """Platform names, domains and countries already stored, for postings that name their
    platform by domain and write phone numbers in the platform country's format."""
    for node in store.iter_nodes(Label.PLATFORM):
        context.learn_platform(node.key, node.props.get("domain"), node.props.get("country"))


def _records(
    paths: Iterable[Path], summary: IngestSummary, on_bytes: Callable[[int], None] | None
) -> Iterator[RawRecord | Rejection]:
    for path in paths:
        try:
            for item in read_records(path):
                if on_bytes is not None:
                    on_bytes(len(item.raw) + 1 if isinstance(item.raw, str) else 1)
                yield item
        except InputFileError as exc:
            summary.unreadable_files.append(str(exc))


def _chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(items, size)):
        yield chunk


def ingest_files(
    store: GraphStore,
    kind: str,
    paths: list[Path],
    *,
    source: str | None = None,
    rejects_path: Path | None = None,
    workers: int = 1,
    batch_size: int = DEFAULT_BATCH,
    reference: SubstanceReference | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest files of one kind into the store; see the module docstring."""
    if kind not in SPECS:
        raise ValueError(f"unknown record kind {kind!r} (valid: {', '.join(SPECS)})")
    summary = IngestSummary(kind)
    context = IngestContext(
        source=source or (paths[0].name.split(".")[0] if paths else kind),
        reference=reference or SubstanceReference.load(),
    )
    known_platforms(store, context)
    rejects = RejectsFile(rejects_path or default_rejects_path(kind))
    ingested_at = now_iso()
    records = _records(paths, summary, on_bytes)
    try:
        if workers > 1:
            pool = get_context("fork" if os.name == "posix" else "spawn").Pool(
                workers, _init_worker, (kind, context, ingested_at)
            )
            with pool:
                in_flight: deque[AsyncResult[list[Built]]] = deque()
                for chunk in _chunks(records, batch_size):
                    in_flight.append(pool.apply_async(_build_chunk, (chunk,)))
                    if len(in_flight) >= 2 * workers:  # bounded: memory stays flat
                        _write(store, in_flight.popleft().get(), summary, rejects)
                while in_flight:
                    _write(store, in_flight.popleft().get(), summary, rejects)
        else:
            builder = EntityBuilder(kind, context, ingested_at)
            for chunk in _chunks(records, batch_size):
                _write(store, [builder(item) for item in chunk], summary, rejects)
    finally:
        rejects.close()
    summary.rejects_path = str(rejects.path) if rejects.count else None
    return summary


def _write(
    store: GraphStore, built: list[Built], summary: IngestSummary, rejects: RejectsFile
) -> None:
    """Store one batch; on refusal retry record by record and reject the ones that fail."""
    good: list[Built] = []
    for item in built:
        summary.read += 1
        if item.rejection is not None:
            rejects.write(item.rejection)
            summary.rejected += 1
        else:
            good.append(item)
    if not good:
        return
    try:
        _store_batch(store, good, summary)
    except StoreUnavailableError:
        raise
    except StoreError:
        for item in good:
            try:
                _store_batch(store, [item], summary)
            except StoreUnavailableError:
                raise
            except StoreError as exc:
                record = item.record
                assert isinstance(record, RawRecord)
                rejects.write(_reject(record, None, f"store refused the record: {exc}"))
                summary.rejected += 1


def _store_batch(store: GraphStore, good: list[Built], summary: IngestSummary) -> None:
    nodes = [n for item in good for n in item.entities.nodes]  # type: ignore[union-attr]
    edges = [e for item in good for e in item.entities.edges]  # type: ignore[union-attr]
    stats = store.upsert(nodes, edges)
    summary.store += stats
    primary = good[0].entities.primary  # type: ignore[union-attr]
    created, updated = stats.by_kind.get(primary, [0, 0])
    summary.ingested += created
    summary.updated += updated
    summary.unchanged += len(good) - created - updated
    summary.warnings += sum(len(item.entities.warnings) for item in good)  # type: ignore[union-attr]
