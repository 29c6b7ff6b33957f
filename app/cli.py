"""The `prexus` command: ingest, demo, analyze, export, serve.

Each subcommand is a thin shell over the packages: `ingest/` reads, `graph/` stores and
analyses, `app/` serves. Errors are one clear line, not a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from app.access import is_loopback_host
from app.cli_access import audit_cli, keys_cli, refuse_unsafe_bind
from app.cli_exchange import deconflict_cli, watch_cli
from graph import open_store
from graph.settings import Settings
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore, StoreError, StoreUnavailableError
from ingest.loader import (
    COMMIT_EVERY,
    DEFAULT_BATCH,
    DEFAULT_MAX_REJECT_RATE,
    IngestSummary,
    ResumeError,
    ingest_files,
)
from ingest.records import RECORD_KINDS

cli = typer.Typer(
    name="prexus",
    help="Link the people, contacts, platforms, chemicals, shipments and seizures behind "
    "online drug-precursor trafficking.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def connect(settings: Settings | None = None) -> GraphStore:
    settings = settings or Settings()
    try:
        return open_store(settings)
    except StoreError as exc:
        raise fail(str(exc)) from None


def _progress(total_bytes: int) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def print_summary(summary: IngestSummary) -> None:
    table = Table(title=f"ingest {summary.kind}", show_header=True)
    for name in ("read", "ingested", "updated", "unchanged", "rejected", "warnings"):
        table.add_column(name, justify="right")
    table.add_row(
        *(
            f"{getattr(summary, n):,}"
            for n in ("read", "ingested", "updated", "unchanged", "rejected", "warnings")
        )
    )
    console.print(table)
    if summary.resumed:
        console.print(f"resumed: {summary.skipped:,} rows committed by the stopped run skipped")
    if summary.rejects_path:
        console.print(
            f"rejected rows (file, line, field, reason, raw): {summary.rejects_path}",
            soft_wrap=True,
        )
    for problem in summary.unreadable_files:
        console.print(f"[bold red]unreadable:[/] {problem}", highlight=False, soft_wrap=True)


def run_ingest(
    store: GraphStore,
    kind: str,
    files: list[Path],
    *,
    source: str | None = None,
    rejects: Path | None = None,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    resume: bool = False,
) -> IngestSummary:
    total = sum(f.stat().st_size for f in files if f.is_file())
    with _progress(total) as progress:
        task = progress.add_task(kind, total=total or None, records=0)

        def advance(n: int) -> None:
            progress.update(task, advance=n)
            progress.tasks[task].fields["records"] += 1

        summary = ingest_files(
            store,
            kind,
            files,
            source=source,
            rejects_path=rejects,
            workers=workers,
            batch_size=batch_size,
            on_bytes=advance,
            resume=resume,
        )
    return summary


@cli.command()
def ingest(
    kind: Annotated[str, typer.Argument(help=f"one of: {', '.join(RECORD_KINDS)}")],
    files: Annotated[list[Path], typer.Argument(help="CSV, JSONL or JSON array; .gz accepted")],
    source: Annotated[str | None, typer.Option(help="source name kept as provenance")] = None,
    rejects: Annotated[Path | None, typer.Option(help="JSONL file for rejected rows")] = None,
    max_reject_rate: Annotated[float, typer.Option(help="fail above this share")] = (
        DEFAULT_MAX_REJECT_RATE
    ),
    workers: Annotated[
        int | None,
        typer.Option(
            help="processes that build records; default: every core for an input over "
            "4 MB, else 1",
            min=1,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(help="records per batch, which lands whole or not at all (SQLite "
                     f"commits {COMMIT_EVERY} batches at a time)"),
    ] = DEFAULT_BATCH,
    resume: Annotated[
        bool, typer.Option(help="finish a stopped ingest of these files: skip committed rows")
    ] = False,
) -> None:
    """Ingest records of one KIND from FILES into the store."""
    if kind not in RECORD_KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of: {', '.join(RECORD_KINDS)}", 2)
    with connect() as store:
        try:
            summary = run_ingest(
                store,
                kind,
                files,
                source=source,
                rejects=rejects,
                workers=workers,
                batch_size=batch_size,
                resume=resume,
            )
        except StoreUnavailableError as exc:
            # one line, whatever the driver said: the committed batches and the checkpoint
            # are in the store, so the same command with --resume carries on from there
            detail = " ".join(str(exc).split())
            raise fail(
                f"ingest stopped, {detail[:300]}; committed rows are kept: re-run the same "
                "command with --resume to finish it"
            ) from None
        except ResumeError as exc:
            raise fail(str(exc), 2) from None
        except StoreError as exc:
            raise fail(str(exc)) from None
    print_summary(summary)
    if summary.unreadable_files:
        raise typer.Exit(1)
    if summary.reject_rate > max_reject_rate:
        raise fail(
            f"{summary.rejected:,} of {summary.read:,} rows rejected "
            f"({summary.reject_rate:.1%} > --max-reject-rate {max_reject_rate:.1%})"
        )


DEMO_ORDER = ("platforms", "routes", "operators", "contacts", "postings", "seizures")
"""Reference data first, so postings find their platforms' countries."""


@cli.command()
def demo(
    out_dir: Annotated[Path, typer.Argument(help="folder for the generated files")],
    postings: Annotated[int, typer.Option(help="how many postings")] = 5000,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same files")] = 7,
    load: Annotated[bool, typer.Option(help="also ingest the files into the store")] = False,
) -> None:
    """Write a synthetic world of vendors, buyers, postings and seizures (with ground
    truth) and optionally ingest it."""
    from ingest.demo import write_demo_world

    world = write_demo_world(out_dir, postings=postings, seed=seed)
    console.print(f"demo world written to {out_dir} ({postings:,} postings, seed {seed})")
    if not load:
        return
    with connect() as store:
        for kind in DEMO_ORDER:
            print_summary(run_ingest(store, kind, [world.files[kind]], source="demo"))


@cli.command()
def analyze(
    seed: Annotated[int, typer.Option(help="seed for sampled betweenness and Louvain")] = 42,
    all_relationships: Annotated[
        bool, typer.Option(help="centrality over every relationship, not just the contact network")
    ] = False,
) -> None:
    """Cluster records into actors, then compute centrality and communities; results are
    written back to the store (idempotent: the same data gives the same ids and figures)."""
    from graph.analysis import CONTACT_NETWORK
    from graph.pipeline import analyze_store

    with connect() as store:
        report = analyze_store(
            store,
            seed=seed,
            rel_types=None if all_relationships else CONTACT_NETWORK,
            announce=console.status,
        )
    checks, run = report.checks, report.run
    assert run is not None
    console.print(
        f"{report.clusters:,} actor clusters, {report.hubs:,} hub identifiers, "
        f"{report.weak_links:,} weak links between clusters"
    )
    console.print(
        f"{checks['registry_alerts']:,} unregistered offers of controlled substances, "
        f"{checks['reappearances']:,} reappearances after takedown, "
        f"{checks['substitution_signals']:,} substitution signals, "
        f"{checks['watch_alerts']:,} new watch alerts"
    )
    console.print(
        f"network analysis: {run.nodes:,} nodes, {run.edges:,} edges, "
        f"{run.communities:,} communities, {run.articulation_points:,} brokers "
        f"(articulation points), backend {run.backend}, {sum(run.seconds.values()):.1f} s"
    )
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    console.print(f"took {sum(report.seconds.values()):.1f} s: {steps}")


EXPORTS = ("clusters", "postings")


@cli.command()
def export(
    what: Annotated[str, typer.Argument(help="clusters or postings")],
    format: Annotated[str, typer.Option("--format", help="jsonl")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file; default standard output")
    ] = None,
) -> None:
    """Write clusters or postings as JSON Lines, one object per line."""
    import json

    from graph.exports import iter_cluster_summaries, iter_posting_summaries

    if what not in EXPORTS:
        raise fail(f"unknown export {what!r}; choose one of: {', '.join(EXPORTS)}", 2)
    if format != "jsonl":
        raise fail(f"unknown format {format!r}; only jsonl", 2)
    rows = iter_cluster_summaries if what == "clusters" else iter_posting_summaries
    with connect() as store:
        handle = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for row in rows(store):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        finally:
            if output:
                handle.close()


def embedded(store: GraphStore) -> SQLiteStore:
    if not isinstance(store, SQLiteStore):
        raise fail(
            "backup and restore are for the embedded store; for Neo4j use its own "
            "tools (neo4j-admin database dump / load), see the README"
        )
    return store


@cli.command()
def backup(target: Annotated[Path, typer.Argument(help="file to write the copy to")]) -> None:
    """Copy the embedded store to a file, consistently, while it stays in use."""
    with connect() as store:
        embedded(store).backup(target)
    console.print(f"backup written to {target}")


@cli.command()
def restore(source: Annotated[Path, typer.Argument(help="a file made by prexus backup")]) -> None:
    """Replace the embedded store's contents with a backup's."""
    with connect() as store:
        try:
            embedded(store).restore(source)
        except StoreError as exc:
            raise fail(str(exc)) from None
    console.print(f"store restored from {source}")


@cli.command()
def stats() -> None:
    """Count nodes and relationships in the store."""
    with connect() as store:
        counts = store.counts()
    table = Table(title=f"store ({store.backend})")
    table.add_column("kind")
    table.add_column("count", justify="right")
    for name, n in sorted({**counts.nodes, **counts.edges}.items()):
        table.add_row(name, f"{n:,}")
    Console().print(table)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the pages and the API (docs at /docs) on the store the settings select. Any
    address but loopback needs API keys (prexus keys add)."""
    import uvicorn

    from app.main import create_app

    settings = Settings()
    refuse_unsafe_bind(host, settings)
    app = create_app(settings=settings, exposed=not is_loopback_host(host))
    uvicorn.run(app, host=host, port=port, proxy_headers=False)


@cli.command()
def report(
    case: Annotated[str, typer.Argument(help="the case's id, or its name when unique")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file; default standard output")
    ] = None,
) -> None:
    """Write a case's evidence report: one self-contained HTML file (print it to PDF)."""
    from app.audit import AuditLog
    from app.cli_access import _cli_actor
    from app.report import case_report_html
    from app.statedb import StateDB
    from graph.cases import CaseNotFoundError, find_case

    settings = Settings()
    state = settings.state_db_path
    audit = AuditLog(StateDB(state)) if state.is_file() else None  # never create one here
    try:
        with connect(settings) as store:
            try:
                found = find_case(store, case)
            except CaseNotFoundError as exc:
                raise fail(str(exc)) from None
            html = case_report_html(store, found.id, _cli_actor(), audit)
    finally:
        if audit is not None:
            audit.db.close()
    if output is None:
        sys.stdout.write(html)
        return
    output.write_text(html, encoding="utf-8")
    console.print(f"report on case {found.id} ({found.name}) written to {output}")


cli.add_typer(keys_cli, name="keys")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(watch_cli, name="watch")
cli.add_typer(deconflict_cli, name="deconflict")


def main() -> None:
    # The Neo4j driver logs every transaction retry as a warning: a wall of text while a
    # server goes away. The commands say what happened, in one line, themselves.
    logging.getLogger("neo4j").addHandler(logging.NullHandler())
    try:
        cli()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # python -m app.cli, as tests start it
    main()
