"""The `prexus` command as a data team runs it, on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from ingest.loader import ingest_files

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "prexus.db"
    monkeypatch.setenv("PREXUS_DB", str(path))
    monkeypatch.delenv("PREXUS_NEO4J_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return path


def test_demo_analyze_export(db: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["demo", str(tmp_path / "world"), "--postings", "600", "--load"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "world" / "truth" / "postings.jsonl").exists()
    result = runner.invoke(cli, ["analyze"])
    assert result.exit_code == 0, result.output
    assert "actor clusters" in result.output
    out = tmp_path / "clusters.jsonl"
    assert (
        runner.invoke(cli, ["export", "clusters", "--format", "jsonl", "-o", str(out)]).exit_code
        == 0
    )
    clusters = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"id", "postings", "seizures", "identifiers", "size"} <= set(clusters[0])
    assert sum(len(c["postings"]) for c in clusters) == 600
    result = runner.invoke(cli, ["export", "postings", "--format", "jsonl"])
    postings = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(postings) == 600
    assert set(postings[0]) == {"id", "cluster", "identifiers", "substances", "kind"}
    assert all(p["cluster"] for p in postings)


def test_ingest_fails_above_the_reject_rate(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "1", "platform": "x"}\n{"broken\n')
    rejects = tmp_path / "rejects.jsonl"
    result = runner.invoke(cli, ["ingest", "postings", str(bad), "--rejects", str(rejects)])
    assert result.exit_code == 1
    assert "1 of 2 rows rejected" in result.output
    assert json.loads(rejects.read_text())["line"] == 2
    ok = runner.invoke(
        cli, ["ingest", "postings", str(bad), "--rejects", str(rejects), "--max-reject-rate", "0.6"]
    )
    assert ok.exit_code == 0, ok.output


def test_unreadable_file_and_unknown_kind(db: Path, tmp_path: Path) -> None:
    missing = runner.invoke(cli, ["ingest", "postings", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    wrong = runner.invoke(cli, ["ingest", "vendors", str(tmp_path / "x.csv")])
    assert wrong.exit_code == 2 and "unknown kind 'vendors'" in wrong.output


def test_neo4j_unreachable_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREXUS_NEO4J_URI", "bolt://127.0.0.1:1")
    result = runner.invoke(cli, ["stats"])
    assert result.exit_code == 1
    assert "cannot reach Neo4j at bolt://127.0.0.1:1" in result.output
    assert "Traceback" not in result.output


def test_backup_and_restore_round_trip(db: Path, tmp_path: Path) -> None:
    assert (
        runner.invoke(cli, ["demo", str(tmp_path / "w"), "--postings", "200", "--load"]).exit_code
        == 0
    )
    before = runner.invoke(cli, ["stats"]).stdout
    copy = tmp_path / "copy.db"
    assert runner.invoke(cli, ["backup", str(copy)]).exit_code == 0
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "NEW", "platform": "x", "title": "later"}\n')
    assert runner.invoke(cli, ["ingest", "postings", str(extra)]).exit_code == 0
    assert runner.invoke(cli, ["stats"]).stdout != before
    assert runner.invoke(cli, ["restore", str(copy)]).exit_code == 0
    assert runner.invoke(cli, ["stats"]).stdout == before
    missing = runner.invoke(cli, ["restore", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "no backup at" in missing.output


def test_a_backup_with_another_page_size_restores(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Databases made before the page size changed keep 4 KiB pages, and so do their
    backups; SQLite refuses to copy those into a WAL database with bigger pages as it is."""
    import graph.sqlite_store as sqlite_store

    with monkeypatch.context() as older:
        older.setattr(sqlite_store, "PAGE_SIZE", 4096)
        with sqlite_store.SQLiteStore(tmp_path / "old.db") as old:
            assert old._db.execute("PRAGMA page_size").fetchone()[0] == 4096
            world = tmp_path / "w"
            assert runner.invoke(cli, ["demo", str(world), "--postings", "50"]).exit_code == 0
            ingest_files(old, "postings", [world / "postings.jsonl"])
            counts = old.counts()
            old.backup(tmp_path / "old-backup.db")
    assert runner.invoke(cli, ["stats"]).exit_code == 0  # the store at PREXUS_DB: new pages
    with sqlite_store.SQLiteStore(db) as store:
        assert store._db.execute("PRAGMA page_size").fetchone()[0] == sqlite_store.PAGE_SIZE
    result = runner.invoke(cli, ["restore", str(tmp_path / "old-backup.db")])
    assert result.exit_code == 0, result.output
    with sqlite_store.SQLiteStore(db) as store:
        assert store.counts() == counts and counts.nodes["Posting"] == 50
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
