"""config/settings.py read from the environment, imported in a fresh interpreter."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

SCRIPT = (
    "import json, django; import config.settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'], "
    "'name': str(s.DATABASES['default']['NAME']), 'hosts': s.ALLOWED_HOSTS, "
    "'secure': getattr(s, 'SESSION_COOKIE_SECURE', False), 'key': s.SECRET_KEY}))"
)
VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "DJANGO_SETTINGS_MODULE",
    "CACHE_URL",
)
KEY = "k" * 25 + "x" * 25  # 50 characters


def import_settings(**env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(**env: str) -> dict:
    result = import_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_without_secret_key_refuses_to_start():
    result = import_settings(DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("key", ["corta", "django-insecure-dev-only-key-do-not-use-in-production"])
def test_production_with_a_weak_secret_key_refuses_to_start(key):
    result = import_settings(DEBUG="0", SECRET_KEY=key)
    assert result.returncode != 0
    assert "SECRET_KEY is too short or is the development key." in result.stderr


def test_production_with_a_secret_key():
    values = loaded(DEBUG="0", SECRET_KEY=KEY, ALLOWED_HOSTS="performance.example.org, www")
    assert values["debug"] is False
    assert values["key"] == KEY
    assert values["hosts"] == ["performance.example.org", "www"]
    assert values["secure"] is True


def test_database_url_selects_postgresql():
    values = loaded(DATABASE_URL="postgres://u@h:5432/db")
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "db"


def test_nothing_set_is_debug_with_sqlite():
    values = loaded()
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(settings.BASE_DIR / "db.sqlite3")
    assert values["hosts"] == ["127.0.0.1", "localhost"]
    assert values["key"] == "django-insecure-dev-only-key-do-not-use-in-production"
    assert values["secure"] is False


CACHE_SCRIPT = (
    "import json, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings');"
    " django.setup(); from django.conf import settings; from django.core.cache import cache;"
    " backend = settings.CACHES['default']['BACKEND'];"
    " ok = cache.add('prova-cache-url', 'sì', 5) or cache.get('prova-cache-url') == 'sì';"
    " print(json.dumps({'backend': backend, 'ok': ok, 'got': cache.get('prova-cache-url')}));"
    " cache.delete('prova-cache-url')"
)


def _cache_in_a_fresh_interpreter(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", CACHE_SCRIPT],
        cwd=settings.BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_cache_url_each_process_has_its_own_cache():
    values = _cache_in_a_fresh_interpreter()
    assert values["backend"] == "django.core.cache.backends.locmem.LocMemCache"


def _redis_reachable() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_reachable(), reason="nessun Redis su 127.0.0.1:6379")
def test_cache_url_shares_one_redis_cache():
    values = _cache_in_a_fresh_interpreter(CACHE_URL="redis://127.0.0.1:6379/15")
    assert values["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert values["ok"] is True and values["got"] == "sì"
