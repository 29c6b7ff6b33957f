"""The case pages in a real headless Chromium against a real uvicorn on loopback (SQLite,
the sample graph after clustering).

What only a browser shows: a case opened from the list page draws its own network once a
cluster is pinned; the entity page's "pin to case" control pins there; a click on a node
makes it the annotation's target; a snapshot taken after moving a node reopens with the
same nodes, edges and positions; the Report button opens the report, which runs nothing.
Same rules as test_pages_browser: no request leaves 127.0.0.1, no dialog, no page error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
import test_pages_browser as shared
from playwright.sync_api import Page
from test_pages_browser import Watch, drawn, entity_url, node_point, painted_pixels
from web_fixtures import SAMPLE, XSS_TITLE, build_sample_graph, live_server, sqlite_store

from graph.exports import iter_cluster_summaries
from graph.linking import link_actors
from graph.sqlite_store import SQLiteStore

pytestmark = pytest.mark.browser
watched = shared.watched
S = SAMPLE


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteStore]:
    with sqlite_store(tmp_path_factory.mktemp("case-browser")) as store:
        build_sample_graph(store)
        link_actors(store)
        yield store


@pytest.fixture(scope="module")
def base_url(sample_store: SQLiteStore) -> Iterator[str]:
    with live_server(sample_store) as url:
        yield url


def open_case(page: Page, base_url: str, name: str) -> str:
    """Open a case from the list page's form; the browser lands on the case's page."""
    page.goto(base_url + "/cases")
    page.fill('#case-form input[name="name"]', name)
    page.fill('#case-form input[name="members"]', "alice, bob")
    page.click('#case-form button[type="submit"]')
    page.wait_for_url("**/cases/case-*")
    assert page.inner_text("#case-name") == name
    return page.url.split("/cases/")[1].split("#")[0]


def positions(page: Page) -> dict[str, dict[str, float]]:
    return page.evaluate("window.prexusNetwork.network.getPositions()")


def test_case_page_pins_annotates_snapshots_and_reports(
    base_url: str, sample_store: SQLiteStore, watched: tuple[Page, Watch], tmp_path: Path
) -> None:
    page, _ = watched
    cluster = next(iter_cluster_summaries(sample_store))["id"]
    case_id = open_case(page, base_url, "Hubei vendor <b>")
    assert drawn(page) == set()

    # pin the cluster by its id; the case draws its own network
    page.fill('#pin-form input[name="ref"]', cluster)
    page.click('#pin-form button[type="submit"]')
    page.wait_for_url("**#pins")
    members = {str(S.p1), str(S.xss), str(S.p3), str(S.seizure), str(S.company)}
    assert drawn(page) == {f"Actor:{cluster}", *members, str(S.phone), str(S.telegram)}
    assert painted_pixels(page) > 1000

    # pin the platform from its entity page
    page.goto(entity_url(base_url, S.platform))
    page.select_option("#pin-to-case select[name='case']", case_id)
    page.click("#pin-to-case button[type='submit']")
    page.wait_for_url(f"**/cases/{case_id}#pins")
    assert page.query_selector(f'#pin-list tr[data-ref="{S.platform}"]') is not None
    assert str(S.platform) in drawn(page)

    # a click on a node makes it the annotation's target
    at = node_point(page, str(S.xss))
    page.mouse.click(at["x"], at["y"])
    assert page.input_value("#annotate-target") == str(S.xss)
    assert XSS_TITLE in page.inner_text("#annotate-chosen")
    page.fill('#annotate-form textarea[name="text"]', "Same <i>phone</i> as tip 12")
    page.click('#annotate-form button[type="submit"]')
    page.wait_for_url("**#annotations")
    assert "Same <i>phone</i> as tip 12" in page.inner_text("#annotation-list")
    assert page.query_selector("#annotation-list i") is None

    # move a node, snapshot, and the snapshot reopens with the same drawing
    ids = drawn(page)
    edge_ids = set(page.evaluate("window.prexusNetwork.edges.getIds()"))
    at = node_point(page, str(S.platform))
    page.mouse.move(at["x"], at["y"])
    page.mouse.down()
    page.mouse.move(at["x"] + 80, at["y"] + 60, steps=8)
    page.mouse.up()
    before = positions(page)
    page.fill('#snapshot-form input[name="title"]', "after the tip")
    page.click('#snapshot-form button[type="submit"]')
    page.wait_for_url(f"**/cases/{case_id}/snapshots/snap-*")
    assert page.inner_text("#snapshot-title") == "after the tip"
    assert drawn(page) == ids
    assert set(page.evaluate("window.prexusNetwork.edges.getIds()")) == edge_ids
    after = positions(page)
    for node_id, point in before.items():
        assert after[node_id]["x"] == pytest.approx(point["x"], abs=0.5)
        assert after[node_id]["y"] == pytest.approx(point["y"], abs=0.5)
    page.screenshot(path=str(tmp_path / "snapshot.png"), full_page=True)

    # the Report button opens the report in a new tab
    page.goto(f"{base_url}/cases/{case_id}")
    with page.context.expect_page() as opened:
        page.click("#report-link")
    report = opened.value
    errors: list[str] = []
    report.on("pageerror", lambda error: errors.append(str(error)))
    report.wait_for_load_state("load")
    assert report.inner_text("#case-name") == "Hubei vendor <b>"
    assert report.query_selector("#network svg") is not None
    assert report.query_selector("script") is None
    assert XSS_TITLE in report.inner_text("#postings")
    assert "Same <i>phone</i> as tip 12" in report.inner_text("#annotations")
    assert "annotate" in report.inner_text("#case-log")
    assert errors == []
    report.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    report.close()


def test_cases_list_and_status(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    case_id = open_case(page, base_url, "Status check")
    page.select_option('#status-form select[name="status"]', "closed")
    page.click('#status-form button[type="submit"]')
    page.wait_for_url("**#status")
    assert page.inner_text("#case-status") == "closed"
    page.goto(base_url + "/cases")
    row = page.locator(f'#case-list tr[data-case="{case_id}"]')
    assert "closed" in row.inner_text() and "alice, bob" in row.inner_text()
    page.goto(entity_url(base_url, S.p1))
    options = page.eval_on_selector_all(
        "#pin-to-case select option", "els => els.map(e => e.value)"
    )
    assert case_id not in options  # a closed case takes no more pins
