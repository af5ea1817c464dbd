"""Attack run, finding 3: the links inside the frozen, signed PDF pointed at
http://127.0.0.1:8000/… when PUBLIC_BASE_URL was unset, and ``check --deploy`` did not say so.
Now it does (reports/checks.py, reports.E001): an error with the production settings."""

from __future__ import annotations

import pytest

from tests.config.test_security import run_production

CHECK = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]


@pytest.mark.parametrize(
    "url",
    ["", "http://performance.example.org/", "https://127.0.0.1:8000/", "https://localhost/"],
)
def test_check_deploy_fails_without_an_https_public_base_url(url):
    result = run_production(CHECK, PUBLIC_BASE_URL=url)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "reports.E001" in output
    assert "PUBLIC_BASE_URL" in output and "https://performance.ente.it/" in output


def test_check_deploy_passes_with_the_public_https_address():
    result = run_production(CHECK, PUBLIC_BASE_URL="https://performance.example.org/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is not set"),
        ("   ", "is not set"),
        ("http://performance.ente.it/", "is not an https URL"),
        ("performance.ente.it", "is not an https URL"),
        ("https://", "does not name the site's public host"),
        ("https://127.0.0.1:8000/", "does not name the site's public host"),
        ("https://[::1]/", "does not name the site's public host"),
        ("https://performance.ente.it/?x=1", "has a query or a fragment"),
        ("https://performance.ente.it/", None),
        ("https://www.ente.it/performance/", None),
    ],
)
def test_what_counts_as_a_production_address(url, problem):
    from reports.checks import public_base_url_problem

    found = public_base_url_problem(url)
    assert (found is None) if problem is None else (problem in found)


def test_an_error_with_debug_off_a_warning_in_development(settings):
    from reports.checks import check_public_base_url

    settings.PUBLIC_BASE_URL = ""
    settings.DEBUG = False
    (error,) = check_public_base_url()
    assert error.id == "reports.E001" and error.is_serious()
    settings.DEBUG = True
    (warning,) = check_public_base_url()
    assert warning.id == "reports.E001" and not warning.is_serious()
    settings.PUBLIC_BASE_URL = "https://performance.example.org/"
    assert check_public_base_url() == []
