"""Bulk ingest: files -> records -> entities -> store, in batches, losing nothing.

Every row read ends in the store or in the rejects file (JSONL: file, line, field, reason,
raw row). A batch the store refuses is retried record by record, so one bad record is
rejected with the store's reason while the rest lands.

Each batch lands whole or not at all; SQLite commits COMMIT_EVERY batches at a time (see
`GraphStore.grouped_commits`). After each batch a checkpoint records how far each file got
(see `Checkpoint`),
so a run stopped by a lost database or a killed process can be resumed (`resume=True`,
`prexus ingest --resume`) without reading the committed rows into the store again.

With worker processes (`workers`, by default every core for a big input into a store that
writes prepared rows as they are: SQLite, Neo4j) each batch is built in a worker down to
what the store's `prepare_rows` makes (SQLite: `graph.store.StoreRows`, merged, JSON-encoded
plain tuples; Neo4j: its UNWIND parameters), cheap to send, and this process only reads
records and runs the store's upserts, batch by batch in input order, so checkpoints,
rejects and counts are exactly those of a run without workers.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, TextIO

from graph.collector import GC_THRESHOLDS, fewer_collections
from graph.schema import Edge, Label, Node, Provenance, now_iso
from graph.store import (
    GraphStore,
    PreparedRows,
    StoreError,
    StoreUnavailableError,
    WriteStats,
)
from graph.watchlists import IngestWatch
from ingest.entities import BUILDERS, Entities, IngestContext
from ingest.readers import InputFileError, JsonLine, RawRecord, Rejection, Row, read_records
from ingest.records import SPECS, FieldError
from ingest.substances import SubstanceReference
from ingest.throughput import BatchWriter

DEFAULT_BATCH = 2000
COMMIT_EVERY = 16
"""Batches per transaction where a store groups commits (SQLite; see grouped_commits):
32,000 postings, about five seconds of a big ingest between two commits."""
DEFAULT_MAX_REJECT_RATE = 0.05
WORKERS_FROM_BYTES = 4_000_000
"""Input size from which worker processes pay for starting (about 6,000 demo postings)."""
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

    It is saved right after each batch. Where the store groups commits (SQLite, every
    COMMIT_EVERY batches) it commits in the same transaction as the batches it covers. Where
    each batch commits on its own (Neo4j), a process that dies between the batch and the
    checkpoint leaves the checkpoint one batch behind, and a resumed run applies that batch
    again. That is harmless: upserts merge by key, so the same rows give the same nodes,
    edges and counts. The rejects file is cut back to the recorded length, so rejected rows
    are not written twice either.
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

    def committed(self, item: Row) -> bool:
        """True when the row was committed (stored or rejected) before the run stopped."""
        entry = self.files.get(item.file)
        return entry is not None and item.line <= entry["line"]

    def advance(self, chunk: list[Row]) -> None:
        """Move each file's mark to the last line of a batch that has just committed."""
        for item in chunk:
            entry = self.files.get(item.file)
            if entry is not None and item.line > entry["line"]:
                entry["line"] = item.line

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

    def __call__(self, item: Row) -> Built:
        if isinstance(item, JsonLine):
            item = item.decoded()
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


@dataclass(slots=True)
class BuiltBatch:
    """A chunk of records built: its rejections in input order, and what the other records
    became, as nodes and edges (built here) or as the store's prepared rows (built by a
    worker process)."""

    rejections: list[Rejection] = field(default_factory=list)
    good: int = 0
    """Records that built; the batch's counts are theirs."""
    primary: str | None = None
    warnings: int = 0
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    rows: PreparedRows | None = None

    def upsert(self, store: GraphStore, watch: IngestWatch | None) -> WriteStats:
        """Store it; through `watch`, so links to watched nodes it creates raise alerts."""
        if watch is not None:
            nodes, edges = self.rows.entities() if self.rows else (self.nodes, self.edges)
            return watch.upsert(nodes, edges)
        if self.rows is not None:
            return store.upsert_rows(self.rows)
        return store.upsert(self.nodes, self.edges)


Prepare = Callable[[list[Node], list[Edge]], PreparedRows]
"""A store class's `prepare_rows`: what a worker turns a built batch into."""


def build_batch(
    builder: EntityBuilder, chunk: list[Row], prepare: Prepare | None = None
) -> BuiltBatch:
    """Build every record of a chunk; `prepare` makes the result ready for the store."""
    batch = BuiltBatch()
    for item in chunk:
        built = builder(item)
        if built.rejection is not None:
            batch.rejections.append(built.rejection)
            continue
        entities = built.entities
        assert entities is not None
        batch.good += 1
        batch.primary = entities.primary
        batch.warnings += len(entities.warnings)
        batch.nodes += entities.nodes
        batch.edges += entities.edges
    if prepare is not None:
        batch.rows = prepare(batch.nodes, batch.edges)
        batch.nodes, batch.edges = [], []
    return batch


_worker_builder: EntityBuilder | None = None
_worker_prepare: Prepare | None = None


def _init_worker(
    kind: str, context: IngestContext, ingested_at: str, store_class: type[GraphStore]
) -> None:
    """Set up a worker process (top level, so the spawn start method can call it). It gets
    the store's class, not the store (a class pickles by reference, a connection not at
    all), for the class's `prepare_rows`."""
    global _worker_builder, _worker_prepare
    _worker_builder = EntityBuilder(kind, context, ingested_at)
    _worker_prepare = store_class.prepare_rows
    gc.set_threshold(*GC_THRESHOLDS)  # the process only builds batches: see graph/collector.py
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once the ingest that started it is gone (SIGKILL leaves it no time
    to stop the pool), rather than wait on the task queue forever, holding memory and the
    ingest's output pipes open."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _build_rows(chunk: list[Row]) -> BuiltBatch:
    """A worker's job: one chunk down to the store's prepared rows, which pickle cheaply."""
    assert _worker_builder is not None and _worker_prepare is not None
    return build_batch(_worker_builder, chunk, _worker_prepare)


def _writes_rows(store: GraphStore) -> bool:
    """True when the store writes its prepared rows as they are rather than decoding them
    back into entities (the generic `GraphStore.upsert_rows`)."""
    return type(store).upsert_rows is not GraphStore.upsert_rows


def default_workers(store: GraphStore, paths: list[Path]) -> int:
    """Every core for a big input into a store that takes prepared rows; else one process,
    since starting workers costs more than a small input takes, and a store that decodes
    rows back into entities gains nothing from them."""
    if not _writes_rows(store):
        return 1
    size = sum(path.stat().st_size for path in paths if path.is_file())
    return (os.cpu_count() or 1) if size >= WORKERS_FROM_BYTES else 1


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
    decode: bool = True,
) -> Iterator[Row]:
    """Every row of the files in order, less those a resumed checkpoint says are done;
    `decode` False leaves JSONL lines to the workers (see `JsonLine`)."""
    for path in paths:
        try:
            for item in read_records(path, decode):
                if on_bytes is not None:
                    on_bytes(len(item.raw) + 1 if isinstance(item.raw, str) else 1)
                if checkpoint is not None and checkpoint.committed(item):
                    summary.skipped += 1
                    continue
                yield item
        except InputFileError as exc:
            summary.unreadable_files.append(str(exc))


def _chunks(items: Iterator[Any], size: int, ramp: bool = False) -> Iterator[list[Any]]:
    """Chunks of `size`; with `ramp` the first ones are an eighth, a quarter and a half of
    it, so that workers hand the writer its first batch sooner (before, every run waited
    for whole first batches to be built, a large part of a small run)."""
    step = max(1, size // 8) if ramp else size
    while chunk := list(islice(items, step)):
        yield chunk
        step = min(size, step * 2)


def ingest_files(
    store: GraphStore,
    kind: str,
    paths: list[Path],
    *,
    source: str | None = None,
    rejects_path: Path | None = None,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    reference: SubstanceReference | None = None,
    on_bytes: Callable[[int], None] | None = None,
    resume: bool = False,
) -> IngestSummary:
    """Ingest files of one kind into the store; see the module docstring.

    With `resume`, rows the last ingest of this kind committed before it stopped are
    skipped, and its rejects file is appended to (unless `rejects_path` names another).
    Without a saved checkpoint, resuming ingests everything, which is safe: ingest is
    idempotent by key. `workers` None picks `default_workers`.
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
    builder = EntityBuilder(kind, context, ingested_at)
    if workers is None:
        workers = default_workers(store, paths)
    records = _records(
        paths, summary, on_bytes, checkpoint if summary.resumed else None, decode=workers <= 1
    )

    def commit(work: tuple[list[Row], BuiltBatch]) -> None:
        chunk, batch = work
        _write(store, chunk, batch, builder, summary, rejects, watch)
        checkpoint.advance(chunk)
        checkpoint.save(rejects)

    try:
        # one batch is written while the next is built; GC passes spaced out meanwhile
        grouped = store.grouped_commits(COMMIT_EVERY)
        with fewer_collections(), grouped, BatchWriter(commit) as writer:
            if workers > 1:
                pool = get_context("fork" if os.name == "posix" else "spawn").Pool(
                    workers, _init_worker, (kind, context, ingested_at, type(store))
                )
                with pool:
                    in_flight: deque[tuple[Any, AsyncResult[BuiltBatch]]] = deque()
                    for chunk in _chunks(records, batch_size, ramp=True):
                        in_flight.append((chunk, pool.apply_async(_build_rows, (chunk,))))
                        if len(in_flight) >= 2 * workers:  # bounded: memory stays flat
                            chunk, result = in_flight.popleft()
                            writer.submit((chunk, result.get()))
                    while in_flight:
                        chunk, result = in_flight.popleft()
                        writer.submit((chunk, result.get()))
                    writer.wait()
            else:
                for chunk in _chunks(records, batch_size):
                    writer.submit((chunk, build_batch(builder, chunk)))
    finally:
        rejects.close()
    summary.rejects_path = str(rejects.path) if rejects.count else None
    return summary


def _write(
    store: GraphStore,
    chunk: list[Row],
    batch: BuiltBatch,
    builder: EntityBuilder,
    summary: IngestSummary,
    rejects: RejectsFile,
    watch: IngestWatch | None = None,
) -> None:
    """Store one batch; on refusal rebuild it here and retry record by record, rejecting
    the ones that fail."""
    summary.read += len(chunk)
    for rejection in batch.rejections:
        rejects.write(rejection)
    summary.rejected += len(batch.rejections)
    if not batch.good:
        return
    try:
        _store_batch(store, batch, summary, watch)
    except StoreUnavailableError:
        raise
    except StoreError:
        for item in chunk:
            if isinstance(item, JsonLine):
                item = item.decoded()
            single = build_batch(builder, [item])
            if not single.good:
                continue  # rejected above
            try:
                _store_batch(store, single, summary, watch)
            except StoreUnavailableError:
                raise
            except StoreError as exc:
                assert isinstance(item, RawRecord)
                rejects.write(_reject(item, None, f"store refused the record: {exc}"))
                summary.rejected += 1


def _store_batch(
    store: GraphStore, batch: BuiltBatch, summary: IngestSummary, watch: IngestWatch | None
) -> None:
    """Upsert one batch and count its records as created, updated or unchanged."""
    stats = batch.upsert(store, watch)
    summary.store += stats
    created, updated = stats.by_kind.get(batch.primary or "", [0, 0])
    summary.ingested += created
    summary.updated += updated
    summary.unchanged += batch.good - created - updated
    summary.warnings += batch.warnings
