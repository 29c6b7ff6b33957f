"""The analysis pages in a real headless Chromium against a real uvicorn on loopback, over
the demo world after clustering, checks and analysis (SQLite).

What only a browser shows: the cluster's network is drawn and the why-form answers, a
split from the page changes the members, the trend chart image loads, the routes page draws
its country flows (and does not expand them), the dashboard lists alerts that link to their
postings. Same rules as test_pages_browser: no request leaves 127.0.0.1, no dialog, no
error in the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
import test_pages_browser as shared
from playwright.sync_api import Page
from test_api_analysis import PMK_ETHYL, PMK_METHYL, analysed
from test_pages_browser import Watch, drawn, node_point, painted_pixels
from web_fixtures import live_server, sqlite_store

from graph.exports import iter_cluster_summaries
from graph.sqlite_store import SQLiteStore

pytestmark = pytest.mark.browser
watched = shared.watched


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory, demo_world: Path) -> Iterator[SQLiteStore]:
    folder = tmp_path_factory.mktemp("analysis-browser")
    with sqlite_store(folder) as store:
        analysed(store, demo_world, folder)
        yield store


@pytest.fixture(scope="module")
def base_url(demo_store: SQLiteStore) -> Iterator[str]:
    with live_server(demo_store) as url:
        yield url


def test_cluster_page_draws_and_explains(
    base_url: str, demo_store: SQLiteStore, watched: tuple[Page, Watch], tmp_path: Path
) -> None:
    page, _ = watched
    cluster = next(iter_cluster_summaries(demo_store))
    cid, postings = cluster["id"], cluster["postings"]
    page.goto(f"{base_url}/cluster/{cid}")
    ids = drawn(page)
    assert f"Actor:{cid}" in ids and f"Posting:{postings[0]}" in ids
    assert painted_pixels(page) > 1000
    assert page.inner_text("#cluster-size") == str(cluster["size"])
    assert page.locator("#ties-table tbody tr").count() > 0

    page.fill('#why-form input[name="a"]', f"Posting:{postings[0]}")
    page.fill('#why-form input[name="b"]', f"Posting:{postings[-1]}")
    page.click('#why-form button[type="submit"]')
    page.wait_for_selector("#why-steps li", timeout=10_000)
    steps = page.inner_text("#why-steps")
    assert postings[0] in steps and postings[-1] in steps and "Identifier" in steps
    assert float(page.inner_text("#why-confidence")) > 0
    drawn(page)
    page.screenshot(path=str(tmp_path / "cluster.png"), full_page=True)


def test_split_from_the_cluster_page(
    base_url: str, demo_store: SQLiteStore, watched: tuple[Page, Watch]
) -> None:
    page, _ = watched
    cluster = list(iter_cluster_summaries(demo_store))[1]
    cid, victim = cluster["id"], f"Posting:{cluster['postings'][1]}"
    page.goto(f"{base_url}/cluster/{cid}")
    assert page.locator(f'#members-table tr[data-ref="{victim}"]').count() == 1
    page.check(f'input[name="records"][value="{victim}"]')
    page.fill('#decision-form input[name="by"]', "browser-test")
    page.click("#split-button")
    page.wait_for_url("**done=split**")
    assert "Split recorded" in page.inner_text("#decided")
    assert page.inner_text("#cluster-size") == str(cluster["size"] - 1)
    assert page.locator(f'#members-table tr[data-ref="{victim}"]').count() == 0
    page.click("#decided a")  # the split-off record's own cluster
    page.wait_for_selector("#cluster-size")
    assert page.inner_text("#cluster-size") == "1"
    assert page.locator(f'#members-table tr[data-ref="{victim}"]').count() == 1


def test_trends_chart_loads(base_url: str, watched: tuple[Page, Watch], tmp_path: Path) -> None:
    page, watch = watched
    with page.expect_response("**/trends/chart.svg**") as chart:
        page.goto(f"{base_url}/trends")
    response = chart.value
    assert response.ok and response.headers["content-type"] == "image/svg+xml"
    assert f"substance={PMK_METHYL}&substance={PMK_ETHYL}" in response.url
    page.wait_for_load_state("load")
    loaded = "(img) => img.complete && img.naturalWidth > 0"
    assert page.eval_on_selector("#trend-chart", loaded)
    assert page.locator("#signals tbody tr").count() > 0
    page.screenshot(path=str(tmp_path / "trends.png"), full_page=True)

    page.select_option('#trend-form select[name="period"]', "year")
    page.uncheck(f'input[name="substance"][value="{PMK_ETHYL}"]')
    with page.expect_response("**/trends/chart.svg**") as redrawn:
        page.click('#trend-form button[type="submit"]')
    assert redrawn.value.ok and "period=year" in redrawn.value.url
    assert PMK_ETHYL not in redrawn.value.url
    page.wait_for_load_state("load")
    assert page.eval_on_selector("#trend-chart", loaded)
    assert any("/trends/chart.svg" in url for url in watch.requests)


def test_routes_page_draws_country_flows(
    base_url: str, watched: tuple[Page, Watch], tmp_path: Path
) -> None:
    page, watch = watched
    page.goto(f"{base_url}/routes")
    ids = drawn(page)
    assert ids and all(node.startswith("Country:") for node in ids)
    assert int(page.get_attribute("#network", "data-edge-count") or 0) > 0
    assert painted_pixels(page) > 1000
    at = node_point(page, "Country:CN")
    page.mouse.click(at["x"], at["y"])
    page.wait_for_selector('#node-details[data-showing="Country:CN"]', timeout=5_000)
    assert "seizures" in page.inner_text("#node-details")
    assert page.query_selector("#node-details button") is None  # no Expand on a flow map
    page.mouse.dblclick(at["x"], at["y"])
    page.wait_for_timeout(300)
    assert not any("/api/network" in url for url in watch.requests)
    assert page.locator("#route-flows tbody tr").count() > 0
    page.screenshot(path=str(tmp_path / "routes.png"), full_page=True)


def test_dashboard_shows_alerts(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(base_url + "/")
    counts = page.inner_text("#alerts .cards")
    assert "unlicensed offers" in counts and "reappearances" in counts
    assert page.locator("#registry-alerts tr").count() > 0
    assert page.locator("#reappearance-alerts tr").count() > 0
    assert page.locator("#substitution-alerts li").count() > 0
    assert page.locator("#largest-clusters tbody tr").count() > 0
    assert page.locator("#brokers tbody tr").count() > 0
    page.click("#registry-alerts a")
    page.wait_for_url("**/entity/Posting/**")
    assert "registry_alert" in page.inner_text("main")
