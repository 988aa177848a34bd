"""A member's path through the pages, in Debian's Chromium driven by Playwright, against a real
server process with the demo data: filter to a city, follow the day of action, read the three
cities' local times, subscribe. Screenshots at phone width go to test-output/screenshots/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import icalendar
import pytest
import requests
from servers import ROOT, environment, flask, free_port, gunicorn

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}


def _require_chromium() -> None:
    if shutil.which(CHROMIUM):
        return
    message = (
        f"{CHROMIUM} not found: install Debian's Chromium with `apt-get install chromium` "
        "(.ci/run does this); browser tests never download a browser"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(fresh_database_url: Callable[[], str]) -> Iterator[str]:
    """gunicorn serving a freshly migrated database with the demo data."""
    url = fresh_database_url()
    port = free_port()
    env = environment(url, f"http://127.0.0.1:{port}")
    for command in (["db", "upgrade"], ["load-demo"]):
        done = flask(env, *command)
        assert done.returncode == 0, done.stderr
    with gunicorn(env, port) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, locale="en-US", is_mobile=True)
    page = context.new_page()
    # The pages must not need anything from another host: block and record any attempt.
    foreign: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    yield page
    context.close()
    assert foreign == [], f"pages tried to load {foreign}"


def _feed_is_valid(url: str) -> icalendar.Calendar:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, url
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    assert calendar.walk("VEVENT"), url
    for component in calendar.walk():
        assert not component.errors, (url, component.errors)
    return calendar


def test_member_filters_follows_the_day_of_action_and_subscribes(server: str, page: Any):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(server + "/")
    assert page.get_by_role("heading", level=1).inner_text() == "Upcoming actions"
    assert page.get_by_role("link", name="Solidarity rally at Foley Square").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "home-phone.png"), full_page=True)

    # Filter to one city with the form (no JavaScript involved).
    page.get_by_label("City").select_option("minneapolis")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/?city=minneapolis**")
    assert page.get_by_role("link", name="March on the Capitol").count() == 1
    assert page.get_by_role("link", name="Solidarity rally at Foley Square").count() == 0

    # Follow the action to its day of action.
    page.get_by_role("link", name="March on the Capitol").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("March on the Capitol")
    page.get_by_role("link", name="January 23 Day of Action").click()
    assert "Day of Action" in page.get_by_role("heading", level=1).inner_text()

    # Parallel actions city by city, each in its own local time: the same instant.
    expected = {
        "Los Angeles": "10:00 AM PST",
        "Minneapolis": "12:00 PM CST",
        "New York": "1:00 PM EST",
    }
    for city, local_time in expected.items():
        section = page.locator("section.city", has=page.get_by_role("heading", name=city))
        assert local_time in section.inner_text(), (city, section.inner_text())
    page.screenshot(path=str(SCREENSHOTS / "campaign-phone.png"), full_page=True)

    # Subscribe links point at feeds that return valid iCalendar.
    webcal = page.get_by_role("link", name="Add to your calendar app").get_attribute("href")
    assert webcal.startswith("webcal://127.0.0.1:")
    feed = page.get_by_label("Feed address (copy into Outlook or Thunderbird)").input_value()
    assert feed == "http://" + webcal.removeprefix("webcal://")
    google = page.get_by_role("link", name="Add to Google Calendar").get_attribute("href")
    assert google.startswith("https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F127.0.0.1")
    calendar = _feed_is_valid(feed)
    titles = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert {"March on the Capitol", "Solidarity rally at Foley Square"} <= titles


def test_event_page_is_complete_and_keyboard_reachable(server: str, page: Any):
    page.goto(server + "/?city=new-york")
    page.get_by_role("link", name="Solidarity rally at Foley Square").click()
    text = page.locator("main").inner_text()
    assert "1:00 PM EST" in text
    assert "Foley Square" in text
    ics = page.get_by_role("link", name="Download .ics").get_attribute("href")
    _feed_is_valid(server + ics)
    # The first Tab reaches the skip link, and it moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.screenshot(path=str(SCREENSHOTS / "event-phone.png"), full_page=True)


def test_spanish_chrome_from_the_switch_stays_through_the_form_and_the_links(
    server: str, page: Any
):
    page.goto(server + "/")
    page.get_by_role("link", name="Español").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Próximas acciones"
    # The browser asks for English (locale en-US): only the links and the form remember.
    page.get_by_label("Ciudad").select_option("minneapolis")
    page.get_by_role("button", name="Mostrar").click()
    page.wait_for_url("**/?*city=minneapolis*")
    assert page.get_by_role("heading", level=1).inner_text() == "Próximas acciones"
    page.get_by_role("link", name="March on the Capitol").click()
    assert "Cuándo" in page.locator("main").inner_text()
    page.get_by_role("link", name="January 23 Day of Action").click()
    assert page.get_by_role("heading", name="Acciones paralelas").count() == 1


# Registered before any page script: every Content-Security-Policy violation the page causes.
_RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


def test_pages_cause_no_content_security_policy_violation(server: str, page: Any):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(_RECORD_VIOLATIONS)
    page.goto(server + "/")
    paths = ["/", "/?city=new-york&lang=es", "/cities/minneapolis", "/coalitions/new-york"]
    paths += ["/coalitions/nobody"]
    page.get_by_role("link", name="March on the Capitol").click()
    paths.append(page.url.removeprefix(server))
    page.get_by_role("link", name="January 23 Day of Action").click()
    paths.append(page.url.removeprefix(server))
    for path in paths:
        response = page.goto(server + path)
        assert "default-src 'none'" in response.headers["content-security-policy"], path
        # The stylesheet applied under the policy: the header's accent rule is drawn.
        style = "getComputedStyle(document.querySelector('header.site')).borderBottomStyle"
        assert page.evaluate(style) == "solid", path
        if path.startswith("/events/"):
            # The schema.org data block is in the page and parses, and it is not blocked.
            data = page.evaluate(
                "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]')"
                ".textContent)"
            )
            assert data["@type"] == "Event"
        assert page.evaluate("window.__violations") == [], path
    assert [text for text in console if "Content Security Policy" in text] == []
