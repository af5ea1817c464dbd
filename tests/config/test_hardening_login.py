"""Attack run, finding 4: the log-in lock-out (django-axes) counted only one user name from one
address, so from one address an attacker could try 4 passwords on each of many users every 15
minutes, and guesses spread over many addresses were never stopped. Now, besides the pair's
limit (AXES_FAILURE_LIMIT), one address is locked after AXES_IP_FAILURE_LIMIT failures whatever
the user names, and one user name after AXES_USERNAME_FAILURE_LIMIT failures whatever the
addresses (config/login_limits.py). The pair's own tests are in tests/config/test_security.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _limits(settings):
    """Small limits (each failed log-in hashes a password: a fraction of a second)."""
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_IP_FAILURE_LIMIT = 6
    settings.AXES_USERNAME_FAILURE_LIMIT = 4


def log_in(username: str, password: str, ip: str):
    client = Client()
    response = client.post("/accedi/", {"username": username, "password": password}, REMOTE_ADDR=ip)
    return response, client


def signed_in(response, client) -> bool:
    return response.status_code == 302 and "_auth_user_id" in client.session


def test_many_users_from_one_address_are_locked_at_the_address_limit():
    users = [UserFactory(username=f"collega-{n}") for n in range(4)]
    attacker = "10.6.6.6"
    statuses = []
    for user in users[:3]:  # 2 wrong passwords each: under the pair's limit (3)
        for _ in range(2):
            statuses.append(log_in(user.username, "sbagliata", attacker)[0].status_code)
    assert statuses == [200, 200, 200, 200, 200, 429]  # the 6th failure from the address
    # The address is locked for every user name, even with the right password…
    response, client = log_in(users[3].username, PASSWORD, attacker)
    assert response.status_code == 429 and not signed_in(response, client)
    text = response.content.decode()
    assert "Accesso temporaneamente bloccato" in text
    assert "Troppi tentativi di accesso non riusciti (6) da questo indirizzo" in text
    assert response["Retry-After"] == "900"
    # …while the same users sign in from their own addresses.
    assert signed_in(*log_in(users[0].username, PASSWORD, "10.1.1.1"))
    assert signed_in(*log_in(users[3].username, PASSWORD, "10.1.1.2"))


def test_one_user_from_many_addresses_is_locked_at_the_user_limit():
    target = UserFactory(username="direttore")
    other = UserFactory(username="collega")
    statuses = [log_in("direttore", "sbagliata", f"10.7.0.{n}")[0].status_code for n in range(1, 5)]
    assert statuses == [200, 200, 200, 429]  # one failure per address, 4 for the user name
    response, client = log_in(target.username, PASSWORD, "10.7.0.99")
    assert response.status_code == 429 and not signed_in(response, client)
    assert (
        "Troppi tentativi di accesso non riusciti (4) per questo nome utente, da indirizzi diversi"
        in response.content.decode()
    )
    # Another user name from those same addresses is not locked.
    assert signed_in(*log_in(other.username, PASSWORD, "10.7.0.1"))


def test_the_pair_limit_still_comes_first():
    UserFactory(username="bersaglio")
    statuses = [log_in("bersaglio", "sbagliata", "10.8.0.1")[0].status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response, _ = log_in("bersaglio", PASSWORD, "10.8.0.1")
    assert "(3) per questo nome utente da questo indirizzo" in response.content.decode()


def test_signing_in_with_ones_own_account_does_not_clear_the_address(settings):
    """The success resets the pair only: an attacker cannot clear the address's count by
    signing in with their own account between rounds of guesses."""
    settings.AXES_USERNAME_FAILURE_LIMIT = 0  # off: only the address's count matters here
    victims = [UserFactory(username=f"vittima-{n}") for n in range(3)]
    own = UserFactory(username="infiltrato")
    address = "10.9.0.1"
    for victim in victims[:2]:
        for _ in range(2):
            assert log_in(victim.username, "sbagliata", address)[0].status_code == 200
    assert signed_in(*log_in(own.username, PASSWORD, address))
    assert log_in(victims[2].username, "sbagliata", address)[0].status_code == 200  # 5th
    assert log_in(victims[2].username, "sbagliata", address)[0].status_code == 429  # 6th


def test_the_limits_are_read_from_the_environment():
    code = (
        "import json, config.settings as s; print(json.dumps([s.AXES_FAILURE_LIMIT, "
        "s.AXES_IP_FAILURE_LIMIT, s.AXES_USERNAME_FAILURE_LIMIT, s.AXES_HANDLER]))"
    )
    names = ("AXES_FAILURE_LIMIT", "AXES_IP_FAILURE_LIMIT", "AXES_USERNAME_FAILURE_LIMIT")
    environ = {k: v for k, v in os.environ.items() if k not in names}

    def read(**extra: str) -> list:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**environ, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    handler = "config.login_limits.LimitsHandler"
    assert read() == [5, 30, 10, handler]
    assert read(
        AXES_FAILURE_LIMIT="4", AXES_IP_FAILURE_LIMIT="50", AXES_USERNAME_FAILURE_LIMIT="8"
    ) == [4, 50, 8, handler]
