"""The watch and deconfliction pages in a real headless Chromium against a real uvicorn: add
a watch with the form, ingest through the API, see the alert on the dashboard (scraped text
as text), acknowledge it; export our hashes and match them back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, Route
from web_fixtures import XSS_TITLE, sample_site

pytestmark = pytest.mark.browser
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SALT = "agreed-out-of-band-for-exchange-42"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sample_site(tmp_path_factory.mktemp("watch-browser")) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that must not leave loopback, open a dialog or log an error (CSP included)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    problems: list[str] = []

    def route(request_route: Route) -> None:
        parts = urlsplit(request_route.request.url)
        if parts.scheme not in ("data", "blob", "about") and parts.hostname not in LOOPBACK:
            problems.append(f"left loopback: {request_route.request.url}")
            request_route.abort()
            return
        request_route.continue_()

    context.route("**/*", route)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: (problems.append(dialog.message), dialog.dismiss()))
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.expected_errors = []  # type: ignore[attr-defined]
    try:
        yield opened
        assert problems == opened.expected_errors  # type: ignore[attr-defined]
        assert opened.evaluate("typeof window.__xss") == "undefined"
    finally:
        context.close()


def test_watch_a_phone_then_see_the_alert_on_the_dashboard(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/watches")
    page.select_option("#watch-kind", "phone")
    page.fill("#watch-value", "+86 (138) 0013-8000")
    page.click("#watch-form button[type=submit]")
    page.wait_for_selector("#added")
    assert "Identifier:phone:+8613800138000" in page.inner_text("#added")
    assert page.locator("#watches-table tr[data-watch]").count() == 1

    posting = {"id": "W1", "platform": "ChemB2B Market", "title": XSS_TITLE,
               "text": "WhatsApp: 0086 138-0013-8000"}  # fmt: skip
    answer = page.request.post(
        f"{base_url}/api/ingest/postings",
        multipart={"file": {"name": "new.jsonl", "mimeType": "application/x-ndjson",
                            "buffer": (json.dumps(posting) + "\n").encode()}},
    )  # fmt: skip
    assert answer.ok, answer.text()

    page.goto(base_url + "/")
    row = page.locator("#watch-alerts-latest tr")
    assert row.count() == 1
    assert "(1 open)" in page.inner_text("#watch-alerts h3")
    text = row.inner_text()
    assert "Posting W1" in text and "<script>alert(1)</script>" in text  # as text, not run
    assert row.get_attribute("data-kind") == "new_posting"
    row.locator("button", has_text="Acknowledge").click()
    page.wait_for_url("**/#watch-alerts")
    assert "None open." in page.inner_text("#watch-alerts")

    page.goto(f"{base_url}/watches")
    alert = page.locator("#watch-alerts-table tr[data-alert]")
    assert alert.count() == 1 and "seen by local" in alert.inner_text()
    alert.locator("a").click()
    page.wait_for_url("**/entity/Posting/W1**")


def test_a_value_that_is_not_a_phone_is_refused_in_the_form(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/watches")
    page.select_option("#watch-kind", "email")
    page.fill("#watch-value", "not an email")
    with page.expect_response(f"{base_url}/watches") as answer:
        page.click("#watch-form button[type=submit]")
    assert answer.value.status == 400
    page.expected_errors.append(  # type: ignore[attr-defined]
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    )
    page.wait_for_selector("#watch-error")
    assert "not a recognisable email" in page.inner_text("#watch-error")
    assert page.input_value("#watch-value") == "not an email"


def test_export_hashes_and_match_them_back(base_url: str, page: Page, tmp_path: Path) -> None:
    page.goto(f"{base_url}/deconflict")
    page.fill("#export-form input[name=salt]", SALT)
    page.select_option("#export-form select[name=format]", "csv")
    with page.expect_download() as download:
        page.click("#export-form button[type=submit]")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "prexus-hashes-all.csv"
    assert saved.read_text().startswith('# {"scheme": "prexus-deconfliction/1"')

    page.set_input_files("#match-form input[name=file]", str(saved))
    page.fill("#match-form input[name=salt]", SALT)
    page.click("#match-form button[type=submit]")
    page.wait_for_selector("#matches-table")
    rows = page.locator("#matches-table tbody tr")
    assert rows.count() == len(saved.read_text().splitlines()) - 2
    assert "+8613800138000" in page.inner_text("#matches-table")
