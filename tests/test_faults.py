"""Faults in the middle of an ingest, with real processes and a real Neo4j server.

An ingest killed with SIGKILL on the embedded store, and one whose Neo4j server stops under
it, both leave a store that opens fine and that `prexus ingest --resume` completes: the
counts equal those of a clean run, and no rejected row is written twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from pathlib import Path

import pytest

from graph import open_store
from graph.settings import Settings
from graph.sqlite_store import SQLiteStore
from graph.store import Counts, GraphStore
from ingest.loader import CHECKPOINT_PREFIX, ResumeError, ingest_files

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import neo4j_server  # noqa: E402
from conftest import started_neo4j  # noqa: E402

PREREQUISITES = ("platforms", "routes", "operators", "contacts")
STOPPABLE = ("--batch-size", "50")
"""Small transactions for the runs that are stopped: many commits, so a stop lands mid-way.
The resumed runs use the default size: checkpoints count lines, not batches."""


def with_broken_rows(
    source: Path, target: Path, every: int = 250, limit: int | None = None
) -> Path:
    """The postings of `source` with a malformed JSON line after every `every` rows, so that
    the rejects file is exercised too."""
    with source.open(encoding="utf-8") as rows, target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(rows, start=1):
            if limit is not None and number > limit:
                break
            out.write(line)
            if number % every == 0:
                out.write('{"broken\n')
    return target


def ingest_kinds(store: GraphStore, world: Path, kinds: tuple[str, ...], rejects: Path) -> None:
    for kind in kinds:
        summary = ingest_files(store, kind, [world / f"{kind}.csv"], source="demo",
                               rejects_path=rejects / f"{kind}.jsonl")
        assert summary.rejected == 0, kind


def clean_run(store: GraphStore, world: Path, postings: Path, rejects: Path) -> Counts:
    """The reference: every kind ingested in one go, nothing stopped."""
    ingest_kinds(store, world, PREREQUISITES, rejects)
    ingest_files(store, "postings", [postings], source="demo",
                 rejects_path=rejects / "postings.jsonl")
    ingest_kinds(store, world, ("seizures",), rejects)
    return store.counts()


def ingest_command(postings: Path, rejects: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", "ingest", "postings", str(postings),
            "--source", "demo", "--rejects", str(rejects), *extra]


def child_env(**settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREXUS_")}
    return {**env, "PYTHONPATH": str(ROOT), **settings}


def wait_for_postings(
    count: Callable[[], int], at_least: int, ingest: subprocess.Popen[str]
) -> int:
    """Poll until the running ingest has committed `at_least` postings; fail if it ends first
    (then it ran too fast to be stopped mid-way, and the test would prove nothing)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if ingest.poll() is not None:
            _, err = ingest.communicate()
            pytest.fail(f"the ingest ended (code {ingest.returncode}) before it was stopped: "
                        f"{err[-2000:]}")
        try:
            committed = count()
        except (sqlite3.OperationalError, neo4j_server.Neo4jServerError):
            committed = 0
        if committed >= at_least:
            return committed
        time.sleep(0.02)
    ingest.kill()
    pytest.fail(f"fewer than {at_least} postings committed within 180 s")


def rejected_rows(path: Path) -> list[tuple[int, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(row["line"], row["reason"]) for row in rows]


# --------------------------------------------------------------------------- embedded store


def resume_equals_clean_run(
    command: list[str],
    env: dict[str, str],
    opened: Callable[[], AbstractContextManager[GraphStore]],
    world: Path,
    expected: Counts,
    rejects: Path,
    expected_rejects: list[tuple[int, str]],
) -> None:
    """`--resume` finishes the stopped ingest; after the kinds that follow postings, the
    store and the rejects equal a clean run's."""
    resumed = subprocess.run(command, cwd=rejects.parent, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed:" in resumed.stderr
    with opened() as store:
        ingest_kinds(store, world, ("seizures",), rejects.parent)
        assert store.counts() == expected
    assert sorted(rejected_rows(rejects)) == sorted(expected_rejects)


def test_killed_ingest_leaves_a_sound_store_that_resume_completes(
    demo_world: Path, tmp_path: Path
) -> None:
    postings = with_broken_rows(demo_world / "postings.jsonl", tmp_path / "postings.jsonl")
    with SQLiteStore(tmp_path / "clean.db") as store:
        expected = clean_run(store, demo_world, postings, tmp_path / "clean-rejects")
    expected_rejects = rejected_rows(tmp_path / "clean-rejects" / "postings.jsonl")
    assert expected.nodes["Posting"] == 3000 and len(expected_rejects) == 12

    db = tmp_path / "killed.db"
    with SQLiteStore(db) as store:
        ingest_kinds(store, demo_world, PREREQUISITES, tmp_path / "rejects")
    rejects = tmp_path / "rejects" / "postings.jsonl"

    def committed_postings() -> int:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as reader:
            query = "SELECT count(*) FROM nodes WHERE label = 'Posting'"
            return int(reader.execute(query).fetchone()[0])

    ingest = subprocess.Popen(ingest_command(postings, rejects, *STOPPABLE), cwd=tmp_path,
                              env=child_env(PREXUS_DB=str(db)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    wait_for_postings(committed_postings, 600, ingest)
    ingest.send_signal(signal.SIGKILL)
    ingest.communicate(timeout=30)
    assert ingest.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(db)) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with SQLiteStore(db) as store:
        assert 600 <= store.counts().nodes["Posting"] < 3000
        assert store.get_meta(CHECKPOINT_PREFIX + "postings") is not None

    resume_equals_clean_run(
        ingest_command(postings, rejects, "--resume"), child_env(PREXUS_DB=str(db)),
        lambda: SQLiteStore(db), demo_world, expected, rejects, expected_rejects,
    )


# --------------------------------------------------------------------------- Neo4j


@pytest.fixture
def own_neo4j() -> Iterator[neo4j_server.Neo4jServer]:
    """A Neo4j server for this test alone: stopping the session's would break other tests."""
    with started_neo4j() as server:
        yield server


@pytest.mark.neo4j
@pytest.mark.timeout(900)
def test_neo4j_stopped_mid_ingest_then_resume_completes(
    own_neo4j: neo4j_server.Neo4jServer, tmp_path: Path
) -> None:
    from ingest.demo import write_demo_world

    world = tmp_path / "world"
    write_demo_world(world, postings=1000, seed=7)
    postings = with_broken_rows(world / "postings.jsonl", tmp_path / "postings.jsonl")
    server = own_neo4j
    settings = Settings(neo4j_uri=server.uri, neo4j_user=server.user,
                        neo4j_password=server.password or "")
    with open_store(settings) as store:
        expected = clean_run(store, world, postings, tmp_path / "clean-rejects")
        store.clear()
        ingest_kinds(store, world, PREREQUISITES, tmp_path / "rejects")
    expected_rejects = rejected_rows(tmp_path / "clean-rejects" / "postings.jsonl")
    assert expected.nodes["Posting"] == 1000 and len(expected_rejects) == 4
    rejects = tmp_path / "rejects" / "postings.jsonl"

    def committed_postings() -> int:
        rows = server.query("MATCH (p:Posting) RETURN count(p) AS n")
        return int(rows[0]["n"])  # type: ignore[call-overload]

    env = child_env(**server.env())
    ingest = subprocess.Popen(ingest_command(postings, rejects, *STOPPABLE), cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_postings(committed_postings, 300, ingest)
    server.stop(keep_data=True)
    _, err = ingest.communicate(timeout=300)
    assert ingest.returncode not in (0, None), err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert server.uri in lines[0] and "--resume" in lines[0]

    uri = server.uri
    server.start()
    assert server.uri == uri
    assert 300 <= committed_postings() < 1000
    resume_equals_clean_run(
        ingest_command(postings, rejects, "--resume"), env, lambda: open_store(settings),
        world, expected, rejects, expected_rejects,
    )


# --------------------------------------------------------------------------- resume rules


def test_resume_after_a_finished_run_reads_nothing_again(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    postings = with_broken_rows(demo_world / "postings.jsonl", tmp_path / "p.jsonl", every=50,
                                limit=200)
    rejects = tmp_path / "rejects.jsonl"
    first = ingest_files(store, "postings", [postings], rejects_path=rejects, batch_size=60)
    assert (first.read, first.rejected) == (204, 4)
    before, rejected = store.counts(), rejects.read_bytes()
    again = ingest_files(store, "postings", [postings], resume=True, batch_size=60)
    assert again.resumed and (again.read, again.skipped) == (0, 204)
    assert store.counts() == before
    assert rejects.read_bytes() == rejected  # the checkpoint's rejects file, not duplicated


def test_resume_refuses_a_file_that_changed(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    postings = with_broken_rows(demo_world / "postings.jsonl", tmp_path / "p.jsonl", limit=20)
    ingest_files(store, "postings", [postings], rejects_path=tmp_path / "r.jsonl")
    with postings.open("a", encoding="utf-8") as more:
        more.write(postings.read_text(encoding="utf-8").splitlines()[0] + "\n")
    with pytest.raises(ResumeError, match="changed since the stopped ingest"):
        ingest_files(store, "postings", [postings], resume=True)


def test_resume_with_nothing_saved_ingests_everything(
    store: GraphStore, demo_world: Path, tmp_path: Path
) -> None:
    postings = with_broken_rows(demo_world / "postings.jsonl", tmp_path / "p.jsonl", limit=20)
    summary = ingest_files(store, "postings", [postings], rejects_path=tmp_path / "r.jsonl",
                           resume=True)
    assert not summary.resumed and (summary.read, summary.skipped) == (20, 0)
    assert store.counts().nodes["Posting"] == 20
