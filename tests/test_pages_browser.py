"""The pages in a real headless Chromium against a real uvicorn on loopback.

What only a browser can show: the network is drawn, a click fills the side panel, a
double-click expands, the filters change the view, hostile posting text runs nothing
(no dialog, no `window.__xss`), the CSP lets our own assets work, and no request leaves
127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, Route
from web_fixtures import SAMPLE, XSS_TITLE, sample_site

pytestmark = pytest.mark.browser
S = SAMPLE
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sample_site(tmp_path_factory.mktemp("browser")) as url:
        yield url


class Watch:
    """What a page did that it must not: leave loopback, open dialogs, throw, break CSP."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOOPBACK:
            self.outside.append(url)
            route.abort()
            return
        route.continue_()


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    watch = Watch()
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on(
        "console",
        lambda message: watch.errors.append(message.text) if message.type == "error" else None,
    )
    try:
        yield page, watch
        assert watch.outside == [], f"requests left loopback: {watch.outside}"
        assert watch.dialogs == [], f"a dialog opened: {watch.dialogs}"
        assert watch.errors == [], f"errors in the page: {watch.errors}"
        assert page.evaluate("typeof window.__xss") == "undefined"
    finally:
        context.close()


def entity_url(base: str, ref: Any, query: str = "") -> str:
    label, _, key = str(ref).partition(":")
    return f"{base}/entity/{label}/{quote(key, safe='')}" + (f"?{query}" if query else "")


def drawn(page: Page) -> set[str]:
    """Wait until the network has settled, then return the ids in its DataSet."""
    page.wait_for_selector('#network[data-stabilized="true"]', timeout=20_000)
    ids = page.evaluate("window.prexusNetwork.nodes.getIds()")
    assert int(page.get_attribute("#network", "data-node-count") or -1) == len(ids)
    return set(ids)


def node_point(page: Page, node_id: str) -> dict[str, float]:
    """Where a node is on screen (the network is scrolled into view first)."""
    page.locator("#network").scroll_into_view_if_needed()
    return page.evaluate(
        """(id) => {
            const net = window.prexusNetwork.network;
            const box = document.getElementById('network').getBoundingClientRect();
            const at = net.canvasToDOM(net.getPositions([id])[id]);
            return {x: box.left + at.x, y: box.top + at.y};
        }""",
        node_id,
    )


def painted_pixels(page: Page) -> int:
    return page.evaluate(
        """() => {
            const canvas = document.querySelector('#network canvas');
            const data = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
            return painted;
        }"""
    )


def test_pages_load_with_our_assets_only(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, watch = watched
    for path, text in [
        ("/", "Latest postings"),
        ("/search?q=PMK", "Search results"),
        ("/paths", "Path finder"),
    ]:
        response = page.goto(base_url + path)
        assert response is not None and response.ok
        assert text in page.inner_text("main")
    page.goto(base_url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Prexus" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag", timeout=10_000)
    assert any("/static/swagger/" in url for url in watch.requests)


def test_network_draws_the_neighbourhood(
    base_url: str, watched: tuple[Page, Watch], tmp_path: Path
) -> None:
    page, _ = watched
    page.goto(entity_url(base_url, S.xss))
    assert drawn(page) == {str(S.xss), str(S.phone), str(S.telegram), str(S.platform)}
    assert int(page.get_attribute("#network", "data-edge-count") or 0) == 3
    assert painted_pixels(page) > 1000
    legend = page.inner_text("#legend")
    assert "Identifier 2" in legend and "Posting 1" in legend
    page.screenshot(path=str(tmp_path / "entity.png"), full_page=True)


def test_click_shows_details_as_text(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(entity_url(base_url, S.xss))
    drawn(page)
    at = node_point(page, str(S.xss))
    page.mouse.move(at["x"], at["y"])
    tooltip = page.wait_for_selector("div.vis-tooltip", state="visible", timeout=5_000)
    assert XSS_TITLE in tooltip.text_content()
    assert tooltip.query_selector("img, script, svg") is None
    page.mouse.click(at["x"], at["y"])
    page.wait_for_selector(f'#node-details[data-showing="{S.xss}"]', timeout=5_000)
    assert page.text_content("#node-details .detail-title") == XSS_TITLE
    assert page.query_selector("#node-details img, #node-details script, #node-details svg") \
        is None
    assert "test-feed" in page.inner_text("#node-details")
    at = node_point(page, str(S.phone))
    page.mouse.click(at["x"], at["y"])
    page.wait_for_selector(f'#node-details[data-showing="{S.phone}"]', timeout=5_000)
    assert "+8613800138000" in page.inner_text("#node-details")
    link = page.get_attribute("#node-details a", "href")
    assert link == "/entity/Identifier/phone%3A%2B8613800138000"


def test_double_click_expands(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(entity_url(base_url, S.p1))
    before = drawn(page)
    assert before == {str(S.p1), str(S.platform), str(S.phone), str(S.substance), str(S.cn)}
    at = node_point(page, str(S.phone))
    page.mouse.dblclick(at["x"], at["y"])
    # (wait_for_function would eval a string, which our CSP rightly forbids)
    page.wait_for_selector('#network[data-expanding="false"]', timeout=10_000)
    after = drawn(page)
    assert after == before | {str(S.xss), str(S.company)}
    assert "Added 2 nodes" in page.inner_text("#expand-status")


def test_filters_change_the_view(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(entity_url(base_url, S.platform))
    everything = drawn(page)
    assert everything == {str(S.platform), str(S.p1), str(S.xss), str(S.p3), str(S.cn)}
    page.uncheck('#network-filters input[name="kinds"][value="Posting"]')
    page.click('#network-filters button[type="submit"]')
    page.wait_for_url("**kinds=**")
    assert drawn(page) == {str(S.platform), str(S.cn)}
    page.check('#network-filters input[name="kinds"][value="Posting"]')
    page.fill('#network-filters input[name="since"]', "2024-01-01")
    page.click('#network-filters button[type="submit"]')
    page.wait_for_url("**since=2024-01-01**")
    assert drawn(page) == {str(S.platform), str(S.p1), str(S.xss), str(S.cn)}
    page.fill('#network-filters input[name="limit"]', "2")
    page.click('#network-filters button[type="submit"]')
    page.wait_for_url("**limit=2**")
    assert len(drawn(page)) == 2
    assert "Showing the first 2 nodes" in page.inner_text("#truncated-notice")


def test_hostile_text_runs_nothing(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    for url in [
        base_url + "/",
        base_url + "/search?q=PMK",
        base_url + "/search?q=" + quote("<script>window.__xss=3</script>"),
        entity_url(base_url, S.xss),
        base_url + f"/paths?from={quote(str(S.p1))}&to={quote(str(S.p3))}",
    ]:
        page.goto(url)
        page.wait_for_load_state("load")
        assert page.query_selector("main script:not([type='application/json'])") is None
    page.goto(entity_url(base_url, S.xss))
    drawn(page)
    assert XSS_TITLE in page.inner_text("h1")
    # the watched fixture checks: no dialog, no window.__xss, no page errors, loopback only


def test_path_finder_draws_the_path(base_url: str, watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(base_url + "/paths")
    page.fill('input[name="from"]', str(S.p1))
    page.fill('input[name="to"]', str(S.seizure))
    page.click('#path-form button[type="submit"]')
    assert drawn(page) == {str(S.p1), str(S.substance), str(S.seizure)}
    assert "1 shortest path of 2 hops" in page.inner_text("main")
