"""`prexus watch ...` and `prexus deconflict ...`: watchlists and their alerts, and salted
hash lists to find what a partner agency and we both hold without sharing raw data.

The store helpers (`connect`, `fail`) come from app.cli when a command runs: app.cli
registers these commands, so importing it here at load time would be circular.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from graph import watchlists
from graph.deconfliction import (
    HASH_FORMATS,
    DeconflictionError,
    match_hash_list,
    new_salt,
    read_hash_list,
    read_salt,
    scope_identifiers,
    write_hash_list,
)
from graph.watchlists import WatchError
from ingest.targets import TARGET_KINDS, watch_target

watch_cli = typer.Typer(help="Watchlists: add, list, remove; their alerts.", no_args_is_help=True)
deconflict_cli = typer.Typer(
    help="Deconfliction: export salted identifier hashes, match a partner's list.",
    no_args_is_help=True,
)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)  # text stays text


def _user() -> str:
    return f"cli:{getpass.getuser()}"


# --- watch -----------------------------------------------------------------------------------


@watch_cli.command("add")
def watch_add(
    kind: Annotated[str, typer.Argument(help=f"one of: {', '.join(TARGET_KINDS)}")],
    value: Annotated[str, typer.Argument(help="written any way: it is normalised as ingest does")],
    note: Annotated[str, typer.Option(help="why it is watched")] = "",
) -> None:
    """Watch a contact (phone, email, handle...), a company, a substance or a cluster."""
    from app.cli import connect, fail

    with connect() as store:
        try:
            watch_kind, target = watch_target(kind, value)
            watch, created = watchlists.add_watch(
                store, watch_kind, target, value.strip(), by=_user(), note=note
            )
        except (ValueError, WatchError) as exc:
            raise fail(str(exc), 2) from None
    state = "watching" if created else "already watched"
    out.print(f"{watch.id}\t{state}\t{watch.target}")


@watch_cli.command("list")
def watch_list(limit: Annotated[int, typer.Option(help="most to show")] = 100) -> None:
    """The watches, newest first: id, kind, watched node, as written, note (tab-separated)."""
    from app.cli import connect

    with connect() as store:
        total, watches = watchlists.list_watches(store, limit)
    for w in watches:
        out.print("\t".join((w.id, w.kind, w.target, w.value, w.note)))
    console.print(f"{total:,} watches")


@watch_cli.command("remove")
def watch_remove(watch_id: Annotated[str, typer.Argument(help="the watch's id")]) -> None:
    """Stop watching; the watch's alerts go with it."""
    from app.cli import connect, fail

    with connect() as store:
        if not watchlists.delete_watch(store, watch_id):
            raise fail(f"no watch {watch_id!r}")
    out.print(f"{watch_id}\tremoved")


@watch_cli.command("alerts")
def watch_alerts(
    watch: Annotated[str | None, typer.Option(help="only this watch's")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only those not acknowledged")] = False,
    limit: Annotated[int, typer.Option(help="most to show")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, every field")] = False,
) -> None:
    """Alerts on watched items, newest first: id, time, kind, summary and who acknowledged
    it (tab-separated), or every field with --json."""
    from app.cli import connect

    with connect() as store:
        total, alerts = watchlists.list_alerts(
            store, watch=watch, acknowledged=False if open_only else None, limit=limit
        )
    for a in alerts:
        if as_json:
            out.print(json.dumps(a.to_dict(), ensure_ascii=False))
        else:
            seen = f"acknowledged by {a.acknowledged_by}" if a.acknowledged_by else "open"
            out.print("\t".join((a.id, a.at[:16], a.kind, a.summary, seen)))
    console.print(f"{total:,} alerts")


@watch_cli.command("ack")
def watch_ack(alert_id: Annotated[str, typer.Argument(help="the alert's id")]) -> None:
    """Mark an alert seen."""
    from app.cli import connect, fail

    with connect() as store:
        if watchlists.acknowledge(store, alert_id, _user()) is None:
            raise fail(f"no alert {alert_id!r}")
    out.print(f"{alert_id}\tacknowledged")


# --- deconflict ------------------------------------------------------------------------------

SaltFile = Annotated[
    Path, typer.Option("--salt-file", help="the salt agreed for this exchange (>= 16 bytes)")
]


@deconflict_cli.command("new-salt")
def deconflict_new_salt(
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write it to")],
) -> None:
    """Write a fresh random salt (64 hex characters) readable by you only; send it to the
    partner by another channel than the hash lists."""
    from app.cli import fail

    try:
        handle = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise fail(f"{output} exists; a salt is never overwritten") from None
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(new_salt() + "\n")
    console.print(f"salt written to {output}")


@deconflict_cli.command("export")
def deconflict_export(
    salt_file: SaltFile,
    output: Annotated[Path, typer.Option("-o", "--output", help="file to write")],
    case: Annotated[str | None, typer.Option(help="only this case's identifiers")] = None,
    cluster: Annotated[str | None, typer.Option(help="only this cluster's identifiers")] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
) -> None:
    """Our identifiers as HMAC-SHA256(salt, "kind:value") hashes (hubs left out)."""
    from app.cli import connect, fail

    if format not in HASH_FORMATS:
        raise fail(f"unknown format {format!r}; choose one of: {', '.join(HASH_FORMATS)}", 2)
    with connect() as store:
        try:
            salt = read_salt(salt_file)
            scope, refs = scope_identifiers(store, case=case, cluster=cluster)
        except DeconflictionError as exc:
            raise fail(str(exc), 2) from None
        except LookupError as exc:
            raise fail(str(exc)) from None
    output.write_text(write_hash_list(salt, scope, refs, format), encoding="utf-8")  # type: ignore[arg-type]
    console.print(f"{len(refs):,} identifier hashes ({scope}) written to {output}")


@deconflict_cli.command("match")
def deconflict_match(
    hash_list: Annotated[Path, typer.Argument(help="the partner's list: JSONL, CSV or lines")],
    salt_file: SaltFile,
    as_json: Annotated[bool, typer.Option("--json", help="the whole report as JSON")] = False,
) -> None:
    """Which of our identifiers are on a partner's hash list, and the records behind them."""
    from app.cli import connect, fail

    try:
        salt = read_salt(salt_file)
        partner = read_hash_list(hash_list.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {hash_list}: {exc}") from None
    except DeconflictionError as exc:
        raise fail(str(exc), 2) from None
    with connect() as store:
        report = match_hash_list(store, partner, salt)
    if as_json:
        out.print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        return
    if report.salt_check == "different":
        console.print("[bold yellow]warning:[/] the list was made with another salt: no match "
                      "is possible; check the salt agreed for this exchange")  # fmt: skip
    table = Table(title=f"{report.matched} of {report.partner_hashes:,} partner hashes match")
    for column in ("kind", "value", "records", "clusters", "first records"):
        table.add_column(column)
    for m in report.matches:
        first = ", ".join(h.ref for h in m.records[:3])
        table.add_row(m.kind, m.value + (" (hub)" if m.hub else ""), str(m.records_total),
                      ", ".join(m.clusters), first)  # fmt: skip
    out.print(table)
