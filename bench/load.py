"""Load: many concurrent clients on the running server, a realistic mix of calls, against a
bare endpoint of the same server in the same run.

    python bench/load.py [--postings 10000] [--db PATH] [--clients 50] [--requests 10000]
                         [--seed 7] [--key KEY] [--skip SCENARIO ...] [--think MS]

The store is the SQLite file --db names (built there from the demo world first when it
does not exist), or a demo world of --postings built in a temporary folder. A store with no
actor clusters is clustered first (graph.linking, as `prexus analyze` does), so cluster
calls have something to answer. uvicorn serves the app in a subprocess on loopback, as
`prexus serve` does: one process.

A fixed number of clients (asyncio tasks, each with its own httpx.AsyncClient and one
connection) send the requests back to back until all are answered: the server's saturation
point. With --think, each client pauses between requests (exponentially distributed, that
mean), as analysts reading a page do: latency at a realistic offered load. The mix is
drawn from real keys in the store: search by words and by phone number, entity JSON,
posting detail, ego networks of one and two hops, the cluster list and cluster detail.
--skip leaves a scenario out, to see what the others cost without it. Then the same clients
send as many requests to a bare endpoint (a constant, through the same middleware): the
floor of this server, client and machine. Any answer but 200, and any transport error or
timeout, counts as an error. In single-user mode (no API keys configured, loopback) no key
is needed; otherwise pass --key. The per-caller rate limit is turned off on the benched
server (PREXUS_RATE_LIMIT_PER_MINUTE=0): every client here is one loopback caller, and the
limit is there to hold back one caller, not to cap the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.api import free_port, start_server, store_to_measure, wait_until_up
from bench.common import row, timed
from graph.schema import Label, Node
from graph.sqlite_store import SQLiteStore

MIX: dict[str, int] = {
    "search (words)": 20,
    "search (phone)": 10,
    "entity (API)": 20,
    "posting detail": 10,
    "ego network, 1 hop": 15,
    "ego network, 2 hops": 10,
    "cluster list": 5,
    "cluster detail": 10,
}
"""Share of each call in the mix, in percent: mostly look-ups and searches, some views."""
CLUSTER_PAGES = (0, 0, 0, 0, 1, 1, 2, 3, 4)
"""Pages of the cluster list (20 clusters each, largest first) that the mix asks for."""
SAMPLE = 2000
"""Distinct postings, phones and clusters drawn from the store to build requests from."""
TIMEOUT_S = 30.0
KEEPALIVE_S = 4.0
"""How long a client keeps an idle connection: under uvicorn's 5 s, as browsers stay under
servers' limits. At httpx's default (also 5 s), a client back from a long pause could send
on a connection the server was closing that instant, and read a reset (ReadError)."""
TARGET_P99_MS = 500.0


@dataclass
class Run:
    """What one drive measured: per request its scenario, milliseconds and whether it
    failed, plus the wall time of the whole drive."""

    seconds: float = 0.0
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def all_times(self) -> list[float]:
        return [t for times in self.times.values() for t in times]

    @property
    def error_count(self) -> int:
        return sum(len(e) for e in self.errors.values())

    @property
    def throughput(self) -> float:
        return len(self.all_times) / self.seconds if self.seconds else 0.0


def sample(nodes: list[Node], node: Node, seen: int, rng: random.Random) -> None:
    """Reservoir sampling: a uniform sample of SAMPLE nodes from a stream of any length,
    without holding the stream (1M postings stay on disk)."""
    if len(nodes) < SAMPLE:
        nodes.append(node)
    elif (slot := rng.randrange(seen)) < SAMPLE:
        nodes[slot] = node


def ensure_clusters(db: Path) -> None:
    """Cluster the store when it holds no actors, so cluster calls find some."""
    with SQLiteStore(db) as store:
        if store.counts().nodes.get(str(Label.ACTOR)):
            return
        from graph.linking import link_actors

        with timed() as took:
            clustering = link_actors(store)
    print(f"clustered the store: {len(clustering.members):,} actors in {took.seconds:.1f} s")


def workload(
    db: Path, size: int, seed: int, mix: dict[str, int] | None = None
) -> list[tuple[str, str]]:
    """`size` (scenario, URL) pairs in the mix's proportions, from keys the store holds."""
    mix = mix or MIX
    rng = random.Random(seed)
    picked: dict[Label, list[Node]] = {Label.POSTING: [], Label.IDENTIFIER: [], Label.ACTOR: []}
    with SQLiteStore(db) as store:
        for label, nodes in picked.items():
            seen = 0
            for node in store.iter_nodes(label):
                if label is Label.IDENTIFIER and node.props.get("kind") != "phone":
                    continue
                seen += 1
                sample(nodes, node, seen, rng)
    postings, phones, actors = (picked[label] for label in picked)
    if not postings or not actors:
        raise SystemExit(f"{db} holds no postings or no clusters")
    words = [w for n in postings for w in str(n.props.get("title", "")).split() if len(w) > 3]

    def key(node: Node) -> str:
        return quote(node.key, safe="")

    def seed_of(node: Node) -> str:
        return quote(f"{node.label}:{node.key}", safe="")

    def url(scenario: str) -> str:
        posting = rng.choice(postings)
        if scenario == "search (words)":
            return f"/api/search?q={quote(' '.join(rng.sample(words, rng.choice((1, 2)))))}"
        if scenario == "search (phone)" and phones:
            return f"/api/search?q={quote(str(rng.choice(phones).props['value']))}"
        if scenario == "entity (API)":
            node = rng.choice(phones) if phones and rng.random() < 0.25 else posting
            return f"/api/entities/{node.label}/{key(node)}"
        if scenario == "posting detail":
            return f"/api/postings/{key(posting)}"
        if scenario.startswith("ego network"):
            depth = 1 if "1 hop" in scenario else 2
            return f"/api/network?seed={seed_of(posting)}&depth={depth}&limit=300"
        if scenario == "cluster list":  # page by page, the first pages most often
            return f"/api/clusters?limit=20&offset={20 * rng.choice(CLUSTER_PAGES)}"
        if scenario == "cluster detail":
            return f"/api/clusters/{key(rng.choice(actors))}"
        return f"/api/search?q={quote(rng.choice(words))}"  # no phones in this store

    names = rng.choices(list(mix), weights=list(mix.values()), k=size)
    return [(name, url(name)) for name in names]


def warm_up_urls(requests: list[tuple[str, str]]) -> list[str]:
    """One call of each scenario, and every cluster list page the mix asks for: a page is
    explained once and then kept until the store changes (app.queries.DashboardCache), as
    on a server that investigators have used since the last analysis. The warm-up prints
    what the slowest first call cost."""
    firsts: dict[str, str] = {}
    for scenario, url in requests:
        firsts.setdefault(scenario, url)
    pages = sorted({url for scenario, url in requests if scenario == "cluster list"})
    return list(dict.fromkeys([*firsts.values(), *pages]))


async def drive(
    base_url: str,
    requests: list[tuple[str, str]],
    clients: int,
    key: str | None,
    think_ms: float = 0.0,
) -> Run:
    """Send every request with `clients` concurrent clients, each one request at a time,
    pausing `think_ms` on average between two."""
    run = Run()
    rng = random.Random(len(requests))
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    pending = iter(requests)  # shared: each request is taken by exactly one client

    async def one_client() -> None:
        # a client of its own per simulated user: one shared pool of 50 connections costs
        # httpx more CPU per request than the server's bare endpoint does
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=TIMEOUT_S,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                keepalive_expiry=KEEPALIVE_S),
        ) as client:
            for scenario, url in pending:
                start = time.perf_counter()
                try:
                    response = await client.get(url)
                    failure = None if response.status_code == 200 else (
                        f"HTTP {response.status_code} {url} {response.text[:120]}"
                    )
                except httpx.HTTPError as exc:
                    failure = f"{type(exc).__name__} {url}"
                run.times[scenario].append((time.perf_counter() - start) * 1000)
                if failure:
                    run.errors[scenario].append(failure)
                if think_ms:
                    await asyncio.sleep(rng.expovariate(1000 / think_ms))

    with timed() as took:
        await asyncio.gather(*(one_client() for _ in range(clients)))
    run.seconds = took.seconds
    return run


def percentiles(times: list[float]) -> tuple[float, float, float]:
    if len(times) < 2:
        return (times[0],) * 3 if times else (0.0, 0.0, 0.0)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def server_peak_rss_mb(pid: int) -> float | None:
    """The uvicorn process's peak resident memory (Linux VmHWM), None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def server_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU the uvicorn process has used (Linux /proc), None elsewhere: what
    a request costs, whatever else runs on the machine and stretches the wall clock."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(mix: Run, bare: Run, clients: int, think_ms: float) -> None:
    if think_ms:
        print(f"each client pauses {think_ms:g} ms on average between requests")
    print(row("run", "requests", "clients", "seconds", "req/s", "p50 ms", "p95 ms", "p99 ms",
              "errors"))
    for name, run in (("mix", mix), ("bare endpoint", bare)):
        p50, p95, p99 = percentiles(run.all_times)
        print(row(name, f"{len(run.all_times):,}", clients, f"{run.seconds:.1f}",
                  f"{run.throughput:,.0f}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}",
                  run.error_count))
    mix_p = percentiles(mix.all_times)
    bare_p = percentiles(bare.all_times)
    print(f"mix / bare: throughput {mix.throughput / bare.throughput:.2f}x, "
          f"p50 {mix_p[0] / bare_p[0]:.1f}x, p99 {mix_p[2] / bare_p[2]:.1f}x")
    print()
    print(row("scenario", "requests", "p50 ms", "p95 ms", "p99 ms", "errors"))
    for scenario in MIX:
        times = mix.times.get(scenario, [])
        if times:
            p50, p95, p99 = percentiles(times)
            print(row(scenario, len(times), f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}",
                      len(mix.errors.get(scenario, []))))
    for scenario, failures in mix.errors.items():
        for failure in failures[:3]:
            print(f"error ({scenario}): {failure}")
    met = mix.error_count == 0 and mix_p[2] < TARGET_P99_MS
    print(f"target (no errors, p99 < {TARGET_P99_MS:.0f} ms): {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postings", type=int, default=10000)
    parser.add_argument("--db", type=Path, help="reuse (or build) this SQLite store")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10000, help="per run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--key", help="API key, when the server has keys configured")
    parser.add_argument("--think", type=float, default=0.0, metavar="MS",
                        help="mean pause of each client between requests (default: none)")
    parser.add_argument("--skip", action="append", default=[], choices=list(MIX),
                        metavar="SCENARIO", help="leave a scenario out of the mix (repeatable)")
    args = parser.parse_args()
    mix = {name: weight for name, weight in MIX.items() if name not in args.skip}

    with store_to_measure(args.db, args.postings, args.seed) as db:
        ensure_clusters(db)
        with SQLiteStore(db) as store:
            counts = store.counts()
        print(f"store: {counts.nodes.get('Posting', 0):,} postings, {counts.total_nodes:,} "
              f"nodes, {counts.total_edges:,} edges")
        with timed() as drawn:
            requests = workload(db, args.requests, args.seed, mix)
        print(f"drew {len(requests):,} requests from the store in {drawn.seconds:.1f} s"
              + (f"; left out: {', '.join(args.skip)}" if args.skip else ""))

        port = free_port()
        os.environ["PREXUS_RATE_LIMIT_PER_MINUTE"] = "0"  # the server's env: see the docstring
        server = start_server(db, port)
        base_url = f"http://127.0.0.1:{port}"
        try:
            headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
            with httpx.Client(base_url=base_url, timeout=60, headers=headers) as client:
                wait_until_up(client, server)
                first_calls: dict[str, float] = {}
                for url in warm_up_urls(requests):
                    with timed() as took:
                        client.get(url)
                    first_calls[url] = took.seconds
            slowest = max(first_calls, key=first_calls.__getitem__)
            print(f"warm-up: one call per scenario and per cluster page, "
                  f"{sum(first_calls.values()):.1f} s; slowest {first_calls[slowest]:.1f} s "
                  f"({slowest})")
            cpu_before = server_cpu_seconds(server.pid)
            mix = asyncio.run(drive(base_url, requests, args.clients, args.key, args.think))
            cpu_mix = server_cpu_seconds(server.pid)
            bare = asyncio.run(drive(base_url, [("bare endpoint", "/bench/bare")] * len(requests),
                                     args.clients, args.key, args.think))
            peak = server_peak_rss_mb(server.pid)
            cpu_bare = server_cpu_seconds(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still busy with slow calls: not worth waiting
                server.kill()
                server.wait(timeout=10)
        print()
        report(mix, bare, args.clients, args.think)
        if peak is not None:
            print(f"server peak RSS: {peak:,.0f} MB")
        if cpu_before is not None and cpu_mix is not None and cpu_bare is not None:
            mix_cpu, bare_cpu = cpu_mix - cpu_before, cpu_bare - cpu_mix
            print(f"server CPU: mix {mix_cpu:.1f} s ({1000 * mix_cpu / len(requests):.1f} ms "
                  f"a request), bare {bare_cpu:.1f} s ({1000 * bare_cpu / len(requests):.1f} ms)")


if __name__ == "__main__":
    main()
