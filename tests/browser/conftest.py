"""Browser tests: Playwright (plain sync API) driving Debian's Chromium against pytest-django's
``live_server``. Marker ``browser``; they run in every ``make test`` and in CI.

Chromium: /usr/bin/chromium (``make install`` installs it with apt-get when run as root), or the
path in ``$CHROMIUM``. Playwright never downloads a browser here. A missing Chromium is a
**failure** with a message saying how to install it, never a skip.

The database, and why it works on SQLite and on PostgreSQL alike:

- ``live_server`` serves the app from another thread, so pytest-django gives these tests
  ``transactional_db``: what a test writes is committed (the server sees it) and the whole
  database is flushed after each test. pytest-django runs these tests after every ``db`` test.
- The 2019 cycle that tests/conftest.py loads once per session (``django_db_setup``) is visible to
  the first browser test and flushed after it. ``live_2019`` loads it again (from a copy of the
  dataset) when it is missing, and the ``pytest_runtest_teardown`` hook of tests/conftest.py loads
  it again after the flush when another test follows, so the test database keeps "starting with
  the 2019 cycle" for whatever runs next.
- SQLite: nothing to configure. The settings give no TEST NAME, so Django's test database is the
  shared in-memory one (``file:memorydb_default?mode=memory&cache=shared``) and pytest-django hands
  the test thread's connection to the live server's threads: both see the same data. Because that
  connection is shared, a test reads the database only when the browser is idle (after a page
  has loaded, or after the live preview it triggered has been shown), never while a request may
  be running. No file-based test database is needed.
- PostgreSQL (``DATABASE_URL=postgres://...``): the server's threads open their own connections
  to the test database; nothing is shared.
- Playwright's sync API keeps its asyncio loop marked as running in the test's thread, so Django
  would refuse the test's own ORM calls (SynchronousOnlyOperation): ``DJANGO_ALLOW_ASYNC_UNSAFE``
  is set while a module's browser is open. The app itself runs in the server's threads.

Screenshots of the key pages go to /tmp/ciclo-performance-browser/ (``$BROWSER_SCREENSHOTS``), never
into the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RESTORE_2019, restore_2019

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", "/tmp/ciclo-performance-browser"))
PASSWORD = "Prova-browser-2019"  # test users only (throw-away test database)
YEAR = 2019
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Chromium, headless, one per test module."""
    if not os.path.isfile(CHROMIUM) or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Browser tests need Chromium at {CHROMIUM} (or set $CHROMIUM): install it with "
            "`apt-get install chromium` (`make install` does it when run as root). "
            "Playwright's own browser download is not used.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_context(browser, live_server, live_2019) -> Iterator[Callable]:
    """A factory of browser sessions (separate cookies), Italian, closed after the test. An
    uncaught JavaScript error on any page fails the test."""
    contexts = []
    page_errors: list[str] = []

    def watch(page) -> None:
        page.on("pageerror", lambda error: page_errors.append(f"{page.url}: {error}"))

    def make():
        context = browser.new_context(
            base_url=live_server.url,
            locale="it-IT",
            timezone_id="Europe/Rome",
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not page_errors, "JavaScript errors in the pages:\n" + "\n".join(page_errors)


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def live_2019(
    request, transactional_db, live_server, dataset_2019, django_db_blocker, settings, tmp_path
):
    """The 2019 cycle, committed, as the live server sees it (loaded again if a previous browser
    test flushed it); the role groups; uploads in a temporary folder."""
    from organization.models import Cycle
    from organization.roles import roles_sync

    restore = restore_2019(dataset_2019, django_db_blocker)
    restore()
    request.node.stash[RESTORE_2019] = restore  # after the flush: tests/conftest.py
    roles_sync()
    settings.MEDIA_ROOT = tmp_path / "media"
    return Cycle.objects.select_related("organization").get(year=YEAR)


@pytest.fixture
def make_user(live_2019):
    """make_user("referente-ri", group, unit_keys=[...]): a user who logs in with PASSWORD."""
    from django.contrib.auth.models import Group, User

    from organization.models import Unit

    def make(username: str, group: str, *, unit_keys=(), first_name="", last_name=""):
        user = User.objects.create_user(
            username, password=PASSWORD, first_name=first_name, last_name=last_name
        )
        user.groups.add(Group.objects.get(name=group))
        for key in unit_keys:
            Unit.objects.get(cycle=live_2019, key=key).referents.add(user)
        return user

    return make


def log_in(page, username: str, password: str = PASSWORD, *, shot: str = "") -> None:
    """Log in through the real log-in page (/accedi/) and land on the workspace home (``shot``:
    the name of a screenshot of the filled-in log-in page)."""
    from playwright.sync_api import expect

    page.goto("/accedi/")
    expect(page.get_by_role("heading", name="Accesso all'area riservata")).to_be_visible()
    page.get_by_label("Nome utente").fill(username)
    page.get_by_label("Password").fill(password)
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/lavoro/")
    expect(page.get_by_role("button", name="Esci")).to_be_visible()


def sideways_overflow(page) -> str:
    """ "" when the page does not scroll sideways; otherwise what sticks out, named (absolute
    elements included: a .visually-hidden text escapes a scrolling box that is not positioned)."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow <= 0:
        return ""
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            // inside a scrolling box only what is positioned outside it counts
            .filter(e => ['absolute', 'fixed'].includes(getComputedStyle(e).position)
                || !e.parentElement.closest('.table-responsive, .table-wrap'))
            .sort((a, b) => b.getBoundingClientRect().right - a.getBoundingClientRect().right)
            .slice(0, 6)
            .map(e => `${e.tagName}.${e.className} in ${e.parentElement.tagName}.`
                      + `${e.parentElement.className}: ${e.textContent.slice(0, 30)}`)"""
    )
    width = page.viewport_size["width"] if page.viewport_size else "?"
    return f"{page.url} at {width} px scrolls sideways by {overflow} px: {wide}"


def screenshot(page, name: str, focus=None) -> Path:
    """A screenshot in SCREENSHOTS (outside the repository): the whole page, or with ``focus`` (a
    locator) the window scrolled to it, as the user sees it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if focus is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        focus.first.scroll_into_view_if_needed()
        focus.first.evaluate("element => element.scrollIntoView({block: 'center'})")
        page.screenshot(path=str(path))
    return path
