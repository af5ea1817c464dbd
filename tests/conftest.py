from pathlib import Path

import pytest

from performance.dataset import read_dataset

DATASET_2019 = Path(__file__).resolve().parents[1] / "fixtures" / "cycle-2019.yaml"


@pytest.fixture(scope="session")
def dataset_2019() -> dict:
    """The 2019 dataset as read from YAML (read once; copy before changing it)."""
    return read_dataset(DATASET_2019)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, dataset_2019):
    """The test database starts with the 2019 cycle loaded (tests run in transactions that
    roll back, so each test sees it unchanged)."""
    from performance.services import cycle_load

    with django_db_blocker.unblock():
        cycle_load(data=dataset_2019)


@pytest.fixture
def cycle_2019(db):
    from organization.models import Cycle

    return Cycle.objects.select_related("organization").get(year=2019)


@pytest.fixture(scope="session")
def _media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (the public PDF lookup is cached: a test must not
    see the PDF of an earlier test's rolled-back data)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _uploads_outside_the_repository(settings, _media_root):
    """Files written by a test (frozen PDFs, imports waiting for confirmation) go to a temporary
    folder, never to the project's media/."""
    settings.MEDIA_ROOT = _media_root
