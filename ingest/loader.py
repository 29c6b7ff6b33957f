"""Bulk ingest: files -> records -> entities -> store, in batches, losing nothing.

Every row read ends in the store or in the rejects file (JSONL: file, line, field, reason,
raw row). A batch the store refuses is retried record by record, so one bad record is
rejected with the store's reason while the rest lands.

After each committed batch a checkpoint records how far each file got (see `Checkpoint`),
so a run stopped by a lost database or a killed process can be resumed (`resume=True`,
`prexus ingest --resume`) without reading the committed rows into the store again.
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
from graph.watchlists import IngestWatch
from ingest.entities import BUILDERS, Entities, IngestContext
from ingest.readers import InputFileError, RawRecord, Rejection, read_records
from ingest.records import SPECS, FieldError
from ingest.substances import SubstanceReference
from ingest.throughput import BatchWriter, fewer_collections

DEFAULT_BATCH = 2000
DEFAULT_MAX_REJECT_RATE = 0.05
CHECKPOINT_PREFIX = "ingest-progress:"
"""Metadata name prefix of the checkpoint of the last ingest of each kind."""


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
    skipped: int = 0
    """Rows a stopped run had already committed, which a resumed run did not read again."""
    resumed: bool = False
    """True when a checkpoint of an earlier run over these files was found and used."""
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

    def size(self) -> int:
        """Bytes in the file with every row written so far flushed: what a checkpoint keeps."""
        if self._handle is not None:
            self._handle.flush()
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def cut_back(self, size: int) -> None:
        """Drop rows written after the last checkpoint: the resumed run writes them again."""
        if self.path.is_file() and self.path.stat().st_size > size:
            with self.path.open("r+b") as handle:
                handle.truncate(size)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


class ResumeError(ValueError):
    """A stopped ingest cannot be resumed safely, e.g. an input file changed since."""


def _fingerprint(path: Path) -> dict[str, Any]:
    """What tells a resumed run that an input file is the one the stopped run read."""
    try:
        stat = path.stat()
    except OSError:
        return {"path": str(path.resolve()), "size": None, "mtime_ns": None}
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class Checkpoint:
    """How far the last ingest of one kind got: per input file its path, size, modification
    time and the last line committed, plus the rejects file and its length then. It lives in
    the store's metadata (`ingest-progress:KIND`), so it survives whatever stopped the run.

    It is saved right after each batch commits, not inside the batch's transaction, since
    the store interface writes a batch as nodes and edges only. If the process dies between
    the two, the checkpoint is one batch behind and a resumed run applies that batch again.
    That is harmless: upserts merge by key, so the same rows give the same nodes, edges and
    counts. The rejects file is cut back to the recorded length, so that batch's rejected
    rows are not written twice either.
    """

    def __init__(self, store: GraphStore, kind: str, paths: list[Path]) -> None:
        self.store = store
        self.name = CHECKPOINT_PREFIX + kind
        self.files: dict[str, dict[str, Any]] = {
            str(path): {**_fingerprint(path), "line": 0} for path in paths
        }
        self.rejects_path: Path | None = None
        self.rejects_bytes = 0

    def load(self) -> bool:
        """Take the committed lines of the last run of this kind; False when none was saved.

        A file the last run did not read starts from its first line; a file that changed
        since (size or modification time) raises ResumeError, since its line numbers no
        longer say which rows were committed.
        """
        saved = self.store.get_meta(self.name)
        if not saved:
            return False
        before = {entry["path"]: entry for entry in saved.get("files", [])}
        for name, entry in self.files.items():
            old = before.get(entry["path"])
            if old is None:
                continue
            if (old["size"], old["mtime_ns"]) != (entry["size"], entry["mtime_ns"]):
                raise ResumeError(
                    f"{name} changed since the stopped ingest (size or modification time "
                    "differ); run without --resume to ingest it again from the start"
                )
            entry["line"] = old["line"]
        if saved.get("rejects"):
            self.rejects_path = Path(saved["rejects"])
            self.rejects_bytes = int(saved.get("rejects_bytes", 0))
        return True

    def committed(self, item: RawRecord | Rejection) -> bool:
        """True when the row was committed (stored or rejected) before the run stopped."""
        entry = self.files.get(item.file)
        return entry is not None and item.line <= entry["line"]

    def advance(self, built: list[Built]) -> None:
        """Move each file's mark to the last line of a batch that has just committed."""
        for item in built:
            entry = self.files.get(item.record.file)
            if entry is not None and item.record.line > entry["line"]:
                entry["line"] = item.record.line

    def save(self, rejects: RejectsFile) -> None:
        self.store.put_meta(
            self.name,
            {
                "files": list(self.files.values()),
                "rejects": str(rejects.path.resolve()),
                "rejects_bytes": rejects.size(),
                "saved_at": now_iso(),
            },
        )


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
    paths: Iterable[Path],
    summary: IngestSummary,
    on_bytes: Callable[[int], None] | None,
    checkpoint: Checkpoint | None = None,
) -> Iterator[RawRecord | Rejection]:
    """Every row of the files in order, less those a resumed checkpoint says are done."""
    for path in paths:
        try:
            for item in read_records(path):
                if on_bytes is not None:
                    on_bytes(len(item.raw) + 1 if isinstance(item.raw, str) else 1)
                if checkpoint is not None and checkpoint.committed(item):
                    summary.skipped += 1
                    continue
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
    resume: bool = False,
) -> IngestSummary:
    """Ingest files of one kind into the store; see the module docstring.

    With `resume`, rows the last ingest of this kind committed before it stopped are
    skipped, and its rejects file is appended to (unless `rejects_path` names another).
    Without a saved checkpoint, resuming ingests everything, which is safe: ingest is
    idempotent by key.
    """
    if kind not in SPECS:
        raise ValueError(f"unknown record kind {kind!r} (valid: {', '.join(SPECS)})")
    summary = IngestSummary(kind)
    checkpoint = Checkpoint(store, kind, paths)
    summary.resumed = resume and checkpoint.load()
    context = IngestContext(
        source=source or (paths[0].name.split(".")[0] if paths else kind),
        reference=reference or SubstanceReference.load(),
    )
    known_platforms(store, context)
    watch = IngestWatch.load(store)  # watched keys read once; None when nothing is watched
    rejects = RejectsFile(rejects_path or checkpoint.rejects_path or default_rejects_path(kind))
    if summary.resumed and rejects.path.resolve() == checkpoint.rejects_path:
        rejects.cut_back(checkpoint.rejects_bytes)
    checkpoint.save(rejects)
    ingested_at = now_iso()
    records = _records(paths, summary, on_bytes, checkpoint if summary.resumed else None)

    def commit(built: list[Built]) -> None:
        _write(store, built, summary, rejects, watch)
        checkpoint.advance(built)
        checkpoint.save(rejects)

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
                        commit(in_flight.popleft().get())
                while in_flight:
                    commit(in_flight.popleft().get())
        else:
            builder = EntityBuilder(kind, context, ingested_at)
            # one batch is written while the next is built; GC passes spaced out meanwhile
            with fewer_collections(), BatchWriter(commit) as writer:
                for chunk in _chunks(records, batch_size):
                    writer.submit([builder(item) for item in chunk])
    finally:
        rejects.close()
    summary.rejects_path = str(rejects.path) if rejects.count else None
    return summary


def _write(
    store: GraphStore,
    built: list[Built],
    summary: IngestSummary,
    rejects: RejectsFile,
    watch: IngestWatch | None = None,
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
        _store_batch(store, good, summary, watch)
    except StoreUnavailableError:
        raise
    except StoreError:
        for item in good:
            try:
                _store_batch(store, [item], summary, watch)
            except StoreUnavailableError:
                raise
            except StoreError as exc:
                record = item.record
                assert isinstance(record, RawRecord)
                rejects.write(_reject(record, None, f"store refused the record: {exc}"))
                summary.rejected += 1


def _store_batch(
    store: GraphStore, good: list[Built], summary: IngestSummary, watch: IngestWatch | None = None
) -> None:
    """Upsert one batch; through `watch`, so links to watched nodes it creates raise alerts."""
    nodes = [n for item in good for n in item.entities.nodes]  # type: ignore[union-attr]
    edges = [e for item in good for e in item.entities.edges]  # type: ignore[union-attr]
    stats = watch.upsert(nodes, edges) if watch else store.upsert(nodes, edges)
    summary.store += stats
    primary = good[0].entities.primary  # type: ignore[union-attr]
    created, updated = stats.by_kind.get(primary, [0, 0])
    summary.ingested += created
    summary.updated += updated
    summary.unchanged += len(good) - created - updated
    summary.warnings += sum(len(item.entities.warnings) for item in good)  # type: ignore[union-attr]
