"""`prexus keys ...` and `prexus audit ...`, and the check `prexus serve` makes before it
listens on anything but loopback.

Key changes made here are themselves audited (actor `cli:USER`, method `CLI`), so the
trail shows every key ever handed out, whether by the API or on the server's console.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.access import is_loopback_host
from app.audit import AuditLog
from app.auth import Role
from app.keys import KeyRequestError, KeyStore
from app.statedb import StateDB
from graph.settings import Settings

keys_cli = typer.Typer(help="API keys: add, list, revoke.", no_args_is_help=True)
audit_cli = typer.Typer(help="The audit trail: verify, export.", no_args_is_help=True)
console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _state() -> StateDB:
    return StateDB(Settings().state_db_path)


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli:unknown"


def _record(db: StateDB, command: str, params: dict[str, str], status: int) -> None:
    AuditLog(db).append(actor=_cli_actor(), role=None, method="CLI", path=f"prexus {command}",
                        params=params, status=status)  # fmt: skip


@keys_cli.command("add")
def keys_add(
    name: Annotated[str, typer.Argument(help="who holds the key (a person or a service)")],
    role: Annotated[Role, typer.Option(help="what the key may do")],
) -> None:
    """Create a key and print it once (on standard output); only its hash is stored."""
    db = _state()
    try:
        token = KeyStore(db).add(name, role)
    except KeyRequestError as exc:
        raise _fail(str(exc), 2) from None
    _record(db, "keys add", {"name": name, "role": role.value}, 201)
    console.print(f"key {name!r} ({role.value}) created; it is shown this once:")
    typer.echo(token)


@keys_cli.command("list")
def keys_list(
    revoked: Annotated[bool, typer.Option(help="include revoked keys")] = True,
) -> None:
    """Names, roles and dates of the keys (never the keys themselves)."""
    table = Table(title="API keys")
    for column in ("name", "role", "created", "revoked"):
        table.add_column(column)
    for info in KeyStore(_state()).list(include_revoked=revoked):
        table.add_row(info.name, info.role.value, info.created_at, info.revoked_at or "")
    Console().print(table)


@keys_cli.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key at once; its page sessions end with it."""
    db = _state()
    try:
        KeyStore(db).revoke(name)
    except KeyRequestError as exc:
        raise _fail(str(exc)) from None
    _record(db, "keys revoke", {"name": name}, 200)
    console.print(f"key {name!r} revoked")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exit 1 naming the first entry altered, inserted or missing."""
    check = AuditLog(_state()).verify()
    if not check.ok:
        raise _fail(f"audit trail broken at entry {check.broken_seq}: {check.reason} "
                    f"({check.entries:,} entries before it check out)")  # fmt: skip
    console.print(f"audit trail intact: {check.entries:,} entries; head {check.head_seq} "
                  f"{check.head_hash} (keep a copy elsewhere to detect truncation)")  # fmt: skip


@audit_cli.command("export")
def audit_export(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file; default standard output")
    ] = None,
) -> None:
    """Every entry as JSON Lines, oldest first, hashes included."""
    audit = AuditLog(_state())
    handle = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        for line in audit.export_jsonl():
            handle.write(line)
    finally:
        if output:
            handle.close()


def refuse_unsafe_bind(host: str, settings: Settings) -> None:
    """Secure by default: with no keys, Prexus is single-user and listens on loopback only."""
    if is_loopback_host(host):
        return
    db = StateDB(settings.state_db_path)
    try:
        configured = KeyStore(db).any_active()
    finally:
        db.close()
    if not configured:
        raise _fail(
            f"refusing to listen on {host}: no API keys are configured, so anyone who can "
            "reach it would have full access. Create an admin key first (prexus keys add "
            f"NAME --role admin; keys live in {settings.state_db_path}), or serve on "
            "127.0.0.1.",
            2,
        )
