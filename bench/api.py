"""HTTP latency of search, the entity page and a 2-hop ego network, against a bare endpoint
of the same server in the same run.

    python bench/api.py [--postings 5000] [--db PATH] [--requests 300] [--seed 7]

The store is the demo world (ingest.demo, ingested kind by kind) in a temporary folder, or
the SQLite file --db names (built there first when it does not exist). uvicorn serves the
app in a subprocess on loopback; one keep-alive client sends a bounded number of requests
per scenario, one at a time, after a short warm-up. The bare endpoint goes through the
same middleware, so its figures are the floor any request on this server pays.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from fastapi import FastAPI

from bench.common import row, timed
from graph.schema import Label
from graph.settings import Settings
from graph.sqlite_store import SQLiteStore

WARMUP = 20


def server_app() -> FastAPI:
    """uvicorn's factory in the subprocess: the real app plus a bare endpoint."""
    from app.main import create_app

    # no rate limit: it would turn the load into 429s (the audit trail stays: it is real cost)
    app = create_app(settings=Settings(db=Path(os.environ["PREXUS_DB"]), rate_limit_per_minute=0))

    @app.get("/bench/bare", include_in_schema=False)
    def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


def build_store(db: Path, postings: int, seed: int) -> None:
    from app.cli import DEMO_ORDER
    from ingest.demo import write_demo_world
    from ingest.loader import ingest_files

    with tempfile.TemporaryDirectory(prefix="prexus-bench-") as folder:
        out = Path(folder)
        world = write_demo_world(out, postings=postings, seed=seed)
        with SQLiteStore(db) as store:
            for kind in DEMO_ORDER:
                ingest_files(store, kind, [world.files[kind]], source="demo",
                             rejects_path=out / f"{kind}-rejects.jsonl")


@contextlib.contextmanager
def store_to_measure(db: Path | None, postings: int, seed: int) -> Iterator[Path]:
    """`db` when given and present; else a demo world of `postings` built into it, or into
    a temporary folder removed at the end."""
    with tempfile.TemporaryDirectory(prefix="prexus-bench-db-") as folder:
        path = db or Path(folder) / "prexus.db"
        if not path.exists():
            with timed() as built:
                build_store(path, postings, seed)
            print(f"built {path} from {postings:,} demo postings in {built.seconds:.1f} s")
        yield path


def workload(db: Path, size: int, seed: int) -> dict[str, list[str]]:
    """URLs per scenario, drawn from what the store holds."""
    rng = random.Random(seed)
    with SQLiteStore(db) as store:
        postings = list(store.iter_nodes(Label.POSTING))
        phones = [n.props["value"] for n in store.iter_nodes(Label.IDENTIFIER)
                  if n.props.get("kind") == "phone"]
    if not postings:
        raise SystemExit(f"{db} holds no postings")
    words = [w for n in postings for w in str(n.props.get("title", "")).split() if len(w) > 3]
    queries = [rng.choice(words) for _ in range(size // 2)]
    queries += [str(rng.choice(phones)) for _ in range(size - len(queries))] if phones else []
    picks = [rng.choice(postings).key for _ in range(size)]
    return {
        "bare endpoint": ["/bench/bare"] * size,
        "search": [f"/api/search?q={quote(q)}&limit=50" for q in queries],
        "entity (API)": [f"/api/entities/Posting/{quote(k, safe='')}" for k in picks],
        "entity page (HTML)": [f"/entity/Posting/{quote(k, safe='')}" for k in picks],
        "ego 2-hop (API)": [
            f"/api/network?seed={quote('Posting:' + k)}&depth=2&limit=300" for k in picks
        ],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "uvicorn", "bench.api:server_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "PREXUS_DB": str(db), "PYTHONPATH": str(root)}
    env.pop("PREXUS_NEO4J_URI", None)
    return subprocess.Popen(command, cwd=root, env=env)


def wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"uvicorn exited with {server.returncode}")
        try:
            if client.get("/bench/bare").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("uvicorn did not start within 30 s")


def measure(get: Callable[[str], httpx.Response], urls: list[str]) -> list[float]:
    """Milliseconds per request; any non-200 stops the run with the URL."""
    for url in urls[:WARMUP]:
        get(url)
    times = []
    for url in urls:
        start = time.perf_counter()
        response = get(url)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {response.text[:200]}")
    return times


def percentiles(times: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postings", type=int, default=5000)
    parser.add_argument("--db", type=Path, help="reuse (or build) this SQLite store")
    parser.add_argument("--requests", type=int, default=300, help="per scenario")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with store_to_measure(args.db, args.postings, args.seed) as db:
        with SQLiteStore(db) as store:
            counts = store.counts()
        print(f"store: {counts.total_nodes:,} nodes, {counts.total_edges:,} edges")
        urls = workload(db, args.requests, args.seed)

        port = free_port()
        server = start_server(db, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                wait_until_up(client, server)
                print(row("scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "p50 / bare"))
                floor = None
                for name, scenario in urls.items():
                    p50, p95, p99 = percentiles(measure(client.get, scenario))
                    floor = floor or p50
                    print(row(name, len(scenario), f"{p50:.2f}", f"{p95:.2f}", f"{p99:.2f}",
                              f"{p50 / floor:.1f}x"))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
