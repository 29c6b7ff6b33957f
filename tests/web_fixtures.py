"""What the web tests share: a small hand-built graph, a live uvicorn server, Chromium.

The graph is upserted directly (graph.schema.make_node/make_edge), so the web tests do not
depend on ingest. It holds a hostile posting whose title and text carry script payloads
and whose url is `javascript:`: every page and tooltip must show them as text.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from graph.schema import Label, NodeRef, Provenance, make_edge, make_node
from graph.sqlite_store import SQLiteStore
from graph.store import GraphStore

XSS_TITLE = "<script>alert(1)</script> PMK oil <img src=x onerror=alert(1)>"
XSS_TEXT = 'Best price "><svg onload=window.__xss=1> <img src=x onerror=window.__xss=2> & more'
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


class Sample:
    """Refs of the sample graph's nodes the tests talk about."""

    platform: NodeRef = NodeRef(Label.PLATFORM, "ChemB2B Market")
    p1: NodeRef = NodeRef(Label.POSTING, "P1")
    xss: NodeRef = NodeRef(Label.POSTING, "P2")
    p3: NodeRef = NodeRef(Label.POSTING, "P3")
    phone: NodeRef = NodeRef(Label.IDENTIFIER, "phone:+8613800138000")
    telegram: NodeRef = NodeRef(Label.IDENTIFIER, "telegram:vendorbob")
    url: NodeRef = NodeRef(Label.IDENTIFIER, "url:https://shop.example/a/network")
    substance: NodeRef = NodeRef(Label.SUBSTANCE, "5449-12-7")
    company: NodeRef = NodeRef(Label.COMPANY, "hubei fengheng chemical")
    seizure: NodeRef = NodeRef(Label.SEIZURE, "S1")
    cn: NodeRef = NodeRef(Label.COUNTRY, "CN")
    nl: NodeRef = NodeRef(Label.COUNTRY, "NL")
    lonely: NodeRef = NodeRef(Label.PERSON, "nobody at all")


SAMPLE = Sample()


def _prov(record: str, day: str | None = None) -> Provenance:
    return Provenance("test-feed", record, day, day)


def build_sample_graph(store: GraphStore) -> Sample:
    """Platform, three postings (one hostile), shared contacts, a substance, a company that
    a seizure names, two countries and one isolated person; degree stored on the phone."""
    nodes = [
        make_node(Label.PLATFORM, {"name": "ChemB2B Market", "domain": "chemb2b-market.com",
                                   "country": "CN"}, _prov("platforms.csv:2")),
        make_node(Label.POSTING, {"id": "P1", "title": "Supply BMK glycidate CAS 5449-12-7",
                                  "text": "Call +86 138 0013 8000", "posted_at": "2024-01-10",
                                  "platform": "ChemB2B Market", "kind": "offer",
                                  "url": "https://chemb2b-market.com/offer/1",
                                  "content_sha256": "ab" * 32},
                  _prov("P1", "2024-01-10")),
        make_node(Label.POSTING, {"id": "P2", "title": XSS_TITLE, "text": XSS_TEXT,
                                  "posted_at": "2024-03-05", "platform": "ChemB2B Market",
                                  "url": "javascript:alert(1)"}, _prov("P2", "2024-03-05")),
        make_node(Label.POSTING, {"id": "P3", "title": "PMK oil in stock Netherlands",
                                  "posted_at": "2023-06-01", "platform": "ChemB2B Market"},
                  _prov("P3", "2023-06-01")),
        make_node(Label.IDENTIFIER, {"kind": "phone", "value": "+8613800138000"}, _prov("P1")),
        make_node(Label.IDENTIFIER, {"kind": "telegram", "value": "vendorbob"}, _prov("P2")),
        make_node(Label.IDENTIFIER, {"kind": "url", "value": "https://shop.example/a/network"},
                  _prov("P3")),
        make_node(Label.SUBSTANCE, {"key": "5449-12-7", "name": "BMK glycidate",
                                    "cas": "5449-12-7"}, _prov("reference")),
        make_node(Label.COMPANY, {"name": "Hubei Fengheng Chemical Co., Ltd.",
                                  "normalised": "hubei fengheng chemical"}, _prov("S1")),
        make_node(Label.SEIZURE, {"id": "S1", "date": "2024-02-01", "quantity": 50.5,
                                  "unit": "kg"}, _prov("S1", "2024-02-01")),
        make_node(Label.COUNTRY, {"code": "CN"}, _prov("reference")),
        make_node(Label.COUNTRY, {"code": "NL"}, _prov("reference")),
        make_node(Label.PERSON, {"name": "Nobody At All", "normalised": "nobody at all"},
                  _prov("contacts.csv:9")),
    ]
    s = SAMPLE
    edge = make_edge
    edges = [
        edge("POSTED_ON", s.p1, s.platform, _prov("P1")),
        edge("POSTED_ON", s.xss, s.platform, _prov("P2")),
        edge("POSTED_ON", s.p3, s.platform, _prov("P3")),
        edge("HAS_IDENTIFIER", s.p1, s.phone, _prov("P1"), {"evidence": ["+86 138 0013 8000"]}),
        edge("HAS_IDENTIFIER", s.xss, s.phone, _prov("P2"),
             {"evidence": ["<img src=x onerror=alert(2)>"]}),
        edge("HAS_IDENTIFIER", s.xss, s.telegram, _prov("P2"), {"evidence": ["@VendorBob"]}),
        edge("HAS_IDENTIFIER", s.p3, s.telegram, _prov("P3"), {"evidence": ["t.me/vendorbob"]}),
        edge("HAS_IDENTIFIER", s.p3, s.url, _prov("P3")),
        edge("HAS_IDENTIFIER", s.company, s.phone, _prov("S1")),
        edge("MENTIONS", s.p1, s.substance, _prov("P1"), {"evidence": ["5449-12-7"]}),
        edge("CONSIGNOR", s.seizure, s.company, _prov("S1")),
        edge("OF_SUBSTANCE", s.seizure, s.substance, _prov("S1"), {"quantity": 50.5}),
        edge("SEIZED_IN", s.seizure, s.nl, _prov("S1")),
        edge("LOCATED_IN", s.platform, s.cn, _prov("platforms.csv:2")),
        edge("LOCATED_IN", s.p1, s.cn, _prov("P1")),
    ]
    store.upsert(nodes, edges)
    store.set_properties(Label.IDENTIFIER, {s.phone.key: {"degree": 3}})
    return SAMPLE


# --- a live server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(store: GraphStore, app: Any = None) -> Iterator[str]:
    """uvicorn serving `app` (default: create_app(store)) on a free loopback port, in a
    thread; yields the base URL and stops the server on exit."""
    import uvicorn

    from app.main import create_app

    config = uvicorn.Config(
        app or create_app(store=store), host="127.0.0.1", port=free_port(),
        log_level="warning", lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def sqlite_store(folder: Path) -> Iterator[SQLiteStore]:
    """An empty SQLite store in `folder`, closed on exit: a browser module's own store."""
    store = SQLiteStore(folder / "prexus.db")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def sample_site(folder: Path) -> Iterator[str]:
    """The sample graph in a SQLite store in `folder`, served live; yields the base URL."""
    with sqlite_store(folder) as store:
        build_sample_graph(store)
        with live_server(store) as url:
            yield url


def chromium_path() -> str:
    """Debian's chromium, or skip (fail under CI=true) naming why."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    )
    if path is None:
        reason = "chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return path
