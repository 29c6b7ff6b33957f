"""End-to-end ingest throughput and peak memory, and extraction against a plain baseline.

    python bench/ingest.py [--sizes 10000 100000] [--workers N] [--neo4j]

For each size: a demo world is generated, then postings are ingested into a fresh store in
a child process (so its peak RSS is its own; the bench also samples the RSS of that process
and its workers together, the figure the 1 GB target of issue 3 is about). Extraction is
timed on the same postings against the plain baseline: libphonenumber's PhoneNumberMatcher
over the text plus simple regexes for emails, handles and wallets. Targets (issue 3, 2
cores): embedded store at least 6,000 postings/s end to end; Neo4j at least 2,000
postings/s.

Each ingest row also gives postings per CPU-second of the ingesting process (all its
threads, and its worker processes: `--workers`, by default what `prexus ingest` picks) and
the load average when it ended: on a shared machine the wall-clock rate follows the other
jobs, the CPU rate much less.

With `--neo4j` a server is started once every SQLite row is done (an idle JVM still takes
some CPU), and Neo4j rows give CPU-seconds per 10,000 postings of the client (as above) and
of the server (from /proc/<pid>/stat of the server the bench started; not shown for an external
PREXUS_NEO4J_URI). The first Neo4j row is a fresh server's first ingest, JIT warm-up
included ("cold"); then a separate world of WARM_UP_POSTINGS is ingested (and cleared by
the next run), and the first size is measured again: that row and every later one are
"warm", as a team's long-running server is. With `--fresh-server` every size instead gets
a server of its own, started for it, and only its cold row: what the first big import
into a new database costs. `--no-sqlite` leaves out the SQLite rows.

    python bench/ingest.py --sizes 1000000 --neo4j --fresh-server --no-sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import neo4j_settings, row  # noqa: E402
from graph.settings import Settings  # noqa: E402
from ingest.demo import write_demo_world  # noqa: E402
from ingest.identifiers import extract_identifiers  # noqa: E402

WARM_UP_POSTINGS = 30_000
"""Postings of the separate world ingested (then cleared) into Neo4j before the warm rows."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_HANDLE = re.compile(r"@(\w{5,32})")
_WALLET = re.compile(r"\b(?:bc1[a-z0-9]{25,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-fA-F0-9]{40}|"
                     r"T[a-km-zA-HJ-NP-Z1-9]{33})\b")


def baseline_extract(text: str, region: str | None) -> list[str]:
    found = [phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
             for m in phonenumbers.PhoneNumberMatcher(text, region or "ZZ")]
    found += _EMAIL.findall(text) + _HANDLE.findall(text) + _WALLET.findall(text)
    return found


def extraction_rates(
    postings: Path, limit: int = 20000, warm_up: int = 1000
) -> tuple[float, float]:
    """Postings/s of Prexus's extraction and of the baseline over the same texts. Both first
    run over `warm_up` other texts: the first calls into libphonenumber load its region
    metadata, which would otherwise count against whichever runs first."""
    texts = []
    with postings.open() as handle:
        for line in handle:
            rec = json.loads(line)
            texts.append((f"{rec.get('title', '')}\n{rec.get('text', '')}", rec.get("country")))
            if len(texts) >= limit + warm_up:
                break
    texts, others = texts[:-warm_up] or texts, texts[-warm_up:]
    for text, region in others:
        extract_identifiers(text, region)
        baseline_extract(text, region)
    start = time.perf_counter()
    for text, region in texts:
        extract_identifiers(text, region)
    ours = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    for text, region in texts:
        baseline_extract(text, region)
    base = len(texts) / (time.perf_counter() - start)
    return ours, base


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from graph import open_store
from graph.settings import Settings
from ingest.loader import ingest_files
from pathlib import Path
from bench.ingest import process_cpu_seconds
settings = Settings(**json.loads({settings!r}))
store = open_store(settings)
store.clear()
world = Path({world!r})
for kind in ("platforms", "routes", "operators", "contacts"):
    ingest_files(store, kind, [world / (kind + ".csv")], rejects_path=world / "r.jsonl")
def cpu():
    return sum(resource.getrusage(who)[0] + resource.getrusage(who)[1]
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
def server_cpu():
    return process_cpu_seconds({server_pid}) if {server_pid} else 0.0
start, cpu_start, server_start = time.perf_counter(), cpu(), server_cpu()
summary = ingest_files(store, "postings", [world / "postings.jsonl"], workers={workers},
                       rejects_path=world / "r.jsonl")
elapsed, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
server_seconds = server_cpu() - server_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({{"read": summary.read, "seconds": elapsed, "cpu_seconds": cpu_seconds,
                  "server_cpu_seconds": server_seconds if {server_pid} else None,
                  "peak_mb": max(peak, children)}}))
"""


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (all its threads), from /proc: the
    Neo4j server's, which getrusage in the client cannot see."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The Neo4j server this process started (bench.common.neo4j_settings runs it as a
    child process), or None for an external one."""
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"org.neo4j.server" in cmdline:
                return int(pid)
    return None


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its descendants (an ingest and its workers), the
    Neo4j server aside, from /proc. Pages a worker shares with its parent count twice, so
    this errs high."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            if b"org.neo4j.server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            status = Path(f"/proc/{pid}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration):  # gone meanwhile
            continue
    return total / 1024


def ingest_in_child(world: Path, settings: dict, workers: int | None,
                    pid: int | None = None) -> dict:
    """Run CHILD; its result, with `tree_peak_mb`: the most memory the ingest and its
    workers held together, sampled every half second."""
    code = CHILD.format(root=str(ROOT), settings=json.dumps(settings), world=str(world),
                        workers=workers, server_pid=pid or 0)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err, text=True)
        tree_peak = 0.0
        while child.poll() is None:
            tree_peak = max(tree_peak, tree_rss_mb(child.pid))
            time.sleep(0.5)
        out.seek(0)
        err.seek(0)
        if child.returncode:  # say why: the child's own traceback, not just its exit status
            raise RuntimeError(f"ingest child failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result["tree_peak_mb"] = tree_peak
    return result


def ingest_cells(result: dict) -> list[str]:
    """Postings/s end to end, per CPU-second of the ingesting process, peak RSS (the
    ingesting process alone, then with its workers), load."""
    return [
        f"{result['read'] / result['seconds']:,.0f} postings/s",
        f"{result['read'] / result['cpu_seconds']:,.0f}/CPU-s",
        f"peak RSS {result['peak_mb']:,.0f} MB (with workers {result['tree_peak_mb']:,.0f} MB)",
        f"load {os.getloadavg()[0]:.1f}",
    ]


def neo4j_cpu_cells(result: dict) -> list[str]:
    """CPU-seconds per 10,000 postings of the ingesting client and of the Neo4j server."""
    per = 10_000 / result["read"]
    server = result["server_cpu_seconds"]
    return [
        f"client {result['cpu_seconds'] * per:.1f} CPU-s/10k",
        f"server {server * per:.1f} CPU-s/10k" if server is not None else "server CPU unknown",
    ]


def neo4j_rows(
    world: Path, settings: dict, workers: int | None, size: int, *, fresh: bool,
    warm_up: Path | None,
) -> None:
    """Ingest into the bench's Neo4j and print the rows. On a `fresh` server the world is
    first measured cold. With `warm_up` (where to write a separate world) that world is then
    ingested (each child clears the store first). Last the world is measured warm, unless
    the server is fresh and not warmed up: then the cold row is all (`--fresh-server`)."""
    pid = server_pid()
    if fresh:
        cold = ingest_in_child(world, settings, workers, pid)
        print(row(f"neo4j ingest {size:,}, cold server", *ingest_cells(cold),
                  *neo4j_cpu_cells(cold)))
    if warm_up is not None:
        write_demo_world(warm_up, postings=WARM_UP_POSTINGS, seed=8)
        ingest_in_child(warm_up, settings, workers, pid)
    elif fresh:
        return
    result = ingest_in_child(world, settings, workers, pid)
    print(row(f"neo4j ingest {size:,}, warm server", *ingest_cells(result),
              *neo4j_cpu_cells(result)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: what the ingest picks by itself)")
    parser.add_argument("--neo4j", action="store_true", help="also ingest into Neo4j")
    parser.add_argument("--fresh-server", action="store_true",
                        help="with --neo4j: each size into a server started for it, cold only")
    parser.add_argument("--no-sqlite", action="store_true", help="leave out the SQLite rows")
    args = parser.parse_args()
    if args.fresh_server and os.environ.get("PREXUS_NEO4J_URI"):
        parser.error("--fresh-server starts its own servers: unset PREXUS_NEO4J_URI")
    with tempfile.TemporaryDirectory() as tmp:
        worlds = []
        for size in args.sizes:
            world = Path(tmp) / f"world-{size}"
            write_demo_world(world, postings=size, seed=7)
            ours, base = extraction_rates(world / "postings.jsonl")
            print(row(f"extraction {size:,}", f"prexus {ours:,.0f} postings/s",
                      f"baseline {base:,.0f}/s", f"ratio {ours / base:.2f}"))
            if not args.no_sqlite:
                result = ingest_in_child(world, {"db": str(Path(tmp) / f"s{size}.db"),
                                                 "neo4j_uri": None},
                                         args.workers)
                rate = result["read"] / result["seconds"]
                print(row(f"sqlite ingest {size:,}", *ingest_cells(result),
                          f"ratio to extraction baseline {rate / base:.2f}"))
            worlds.append((size, world))
        if not args.neo4j:
            return
        # started after the SQLite rows: an idle JVM still takes some CPU
        if args.fresh_server:
            for size, world in worlds:
                with neo4j_settings() as neo4j:
                    if neo4j is None:
                        return
                    neo4j_rows(world, _client_settings(neo4j), args.workers, size,
                               fresh=True, warm_up=None)
            return
        with neo4j_settings() as neo4j:
            if neo4j is None:
                return
            for size, world in worlds:
                first = size == args.sizes[0]
                neo4j_rows(world, _client_settings(neo4j), args.workers, size, fresh=first,
                           warm_up=Path(tmp) / "warm-up" if first else None)


def _client_settings(neo4j: Settings) -> dict:
    """What an ingest child needs to reach the bench's server."""
    return {"neo4j_uri": neo4j.neo4j_uri, "neo4j_user": neo4j.neo4j_user,
            "neo4j_password": neo4j.neo4j_password.get_secret_value()}


if __name__ == "__main__":
    main()
