import copy
from collections.abc import Callable
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


@pytest.fixture
def personas(cycle_2019):
    """The people of the tests (tests/personas.py): anonymous, no role, the referent of Registro
    Imprese and of Promozione, the controllo di gestione, the OIV, an administrator."""
    from tests.personas import Personas

    return Personas(cycle_2019)


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


# Tests whose writes must be committed (other connections see them: threads, a live server) run
# with ``transactional_db``, which flushes the whole database afterwards; RESTORE_2019 in the
# test's stash puts the 2019 cycle back after the flush, for whatever test runs next.
RESTORE_2019 = pytest.StashKey[Callable[[], None]]()


def restore_2019(dataset_2019, django_db_blocker) -> Callable[[], None]:
    def restore() -> None:
        from organization.models import Cycle
        from performance.services import cycle_load

        with django_db_blocker.unblock():
            if not Cycle.objects.filter(year=2019).exists():
                cycle_load(data=copy.deepcopy(dataset_2019))

    return restore


@pytest.fixture
def committed_db(request, transactional_db, dataset_2019, django_db_blocker):
    """A database whose writes are committed (seen by other threads' connections on PostgreSQL;
    on SQLite the test database is one shared in-memory connection), starting with the 2019
    cycle and left with it."""
    restore = restore_2019(dataset_2019, django_db_blocker)
    restore()
    request.node.stash[RESTORE_2019] = restore


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the flush of a committed-database test (the last step of its teardown), put the
    2019 cycle back for the next test, if any."""
    try:
        return (yield)
    finally:
        restore = item.stash.get(RESTORE_2019, None)
        if restore is not None and nextitem is not None:
            restore()
