"""An optional read replica for the public pages (DATABASE_REPLICA_URL, docs/deploy.md).

With a replica configured (the ``replica`` alias of settings.DATABASES), the GET/HEAD requests of
the public pages (``/trasparenza/``: the Relazione, its open data and PDF) read the plan, the
values and the Relazione from the replica; everything else, every write and every read of the
staff's pages, of sessions, users and log-in attempts goes to the primary. The choice is made per
request (a context variable, nothing kept between requests). If the replica cannot be reached,
the request reads from the primary.
"""

from __future__ import annotations

import contextvars
import logging

from django.conf import settings
from django.db import DatabaseError, connections

logger = logging.getLogger("config.availability")

REPLICA = "replica"
PUBLIC_PREFIXES = ("/trasparenza/",)
# Only the data of the portal's own apps: sessions, users and axes stay on the primary.
REPLICA_APPS = frozenset({"organization", "performance", "reports"})

_use_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("use_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReadReplicaRouter:
    def db_for_read(self, model, **hints):
        if _use_replica.get() and model._meta.app_label in REPLICA_APPS:
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: same rows

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


def _replica_reachable() -> bool:
    connection = connections[REPLICA]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError as error:
        logger.warning("Read replica unavailable (%s): public pages read from the primary", error)
        return False
    return True


class PublicReadReplicaMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not (
            replica_configured()
            and request.method in ("GET", "HEAD")
            and request.path_info.startswith(PUBLIC_PREFIXES)
            and _replica_reachable()
        ):
            return self.get_response(request)
        token = _use_replica.set(True)
        try:
            return self.get_response(request)
        finally:
            _use_replica.reset(token)
