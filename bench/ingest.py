"""End-to-end ingest throughput and peak memory, and extraction against a plain baseline.

    python bench/ingest.py [--sizes 10000 100000] [--workers N] [--neo4j]

For each size: a demo world is generated, then postings are ingested into a fresh store in
a child process (so its peak RSS is its own). Extraction is timed on the same postings
against the plain baseline: libphonenumber's PhoneNumberMatcher over the text plus simple
regexes for emails, handles and wallets. Targets (issue 3, 2 cores): embedded store at
least 6,000 postings/s end to end; Neo4j at least 2,000 postings/s.

Each ingest row also gives postings per CPU-second of the ingesting process (all its
threads, and its worker processes: `--workers`, by default what `prexus ingest` picks) and
the load average when it ended: on a shared machine the wall-clock rate follows the other
jobs, the CPU rate much less. For Neo4j the CPU is the client's only.
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
from ingest.demo import write_demo_world  # noqa: E402
from ingest.identifiers import extract_identifiers  # noqa: E402

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_HANDLE = re.compile(r"@(\w{5,32})")
_WALLET = re.compile(r"\b(?:bc1[a-z0-9]{25,60}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}|0x[a-fA-F0-9]{40}|"
                     r"T[a-km-zA-HJ-NP-Z1-9]{33})\b")


def baseline_extract(text: str, region: str | None) -> list[str]:
    found = [phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
             for m in phonenumbers.PhoneNumberMatcher(text, region or "ZZ")]
    found += _EMAIL.findall(text) + _HANDLE.findall(text) + _WALLET.findall(text)
    return found


def extraction_rates(postings: Path, limit: int = 20000) -> tuple[float, float]:
    texts = []
    with postings.open() as handle:
        for line in handle:
            rec = json.loads(line)
            texts.append((f"{rec.get('title', '')}\n{rec.get('text', '')}", rec.get("country")))
            if len(texts) >= limit:
                break
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
settings = Settings(**json.loads({settings!r}))
store = open_store(settings)
store.clear()
world = Path({world!r})
for kind in ("platforms", "routes", "operators", "contacts"):
    ingest_files(store, kind, [world / (kind + ".csv")], rejects_path=world / "r.jsonl")
def cpu():
    return sum(resource.getrusage(who)[0] + resource.getrusage(who)[1]
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
start, cpu_start = time.perf_counter(), cpu()
summary = ingest_files(store, "postings", [world / "postings.jsonl"], workers={workers},
                       rejects_path=world / "r.jsonl")
elapsed, cpu_seconds = time.perf_counter() - start, cpu() - cpu_start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({{"read": summary.read, "seconds": elapsed, "cpu_seconds": cpu_seconds,
                  "peak_mb": max(peak, children)}}))
"""


def ingest_in_child(world: Path, settings: dict, workers: int | None) -> dict:
    code = CHILD.format(root=str(ROOT), settings=json.dumps(settings), world=str(world),
                        workers=workers)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:  # say why: the child's own traceback, not just its exit status
        raise RuntimeError(f"ingest child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ingest_cells(result: dict) -> list[str]:
    """Postings/s end to end, per CPU-second of the ingesting process, peak RSS, load."""
    return [
        f"{result['read'] / result['seconds']:,.0f} postings/s",
        f"{result['read'] / result['cpu_seconds']:,.0f}/CPU-s",
        f"peak RSS {result['peak_mb']:,.0f} MB",
        f"load {os.getloadavg()[0]:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: what the ingest picks by itself)")
    parser.add_argument("--neo4j", action="store_true", help="also ingest into Neo4j")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, neo4j_settings() if args.neo4j else \
            _nothing() as neo4j:
        for size in args.sizes:
            world = Path(tmp) / f"world-{size}"
            write_demo_world(world, postings=size, seed=7)
            ours, base = extraction_rates(world / "postings.jsonl")
            print(row(f"extraction {size:,}", f"prexus {ours:,.0f} postings/s",
                      f"baseline {base:,.0f}/s", f"ratio {ours / base:.2f}"))
            result = ingest_in_child(world, {"db": str(Path(tmp) / f"s{size}.db"),
                                             "neo4j_uri": None},
                                     args.workers)
            rate = result["read"] / result["seconds"]
            print(row(f"sqlite ingest {size:,}", *ingest_cells(result),
                      f"ratio to extraction baseline {rate / base:.2f}"))
            if neo4j is not None:
                password = neo4j.neo4j_password.get_secret_value()
                result = ingest_in_child(world, {"neo4j_uri": neo4j.neo4j_uri,
                                                 "neo4j_user": neo4j.neo4j_user,
                                                 "neo4j_password": password}, args.workers)
                print(row(f"neo4j ingest {size:,}", *ingest_cells(result)))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
