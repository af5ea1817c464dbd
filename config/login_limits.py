"""Log-in lock-out (django-axes 8.3): three limits on the failed log-ins of the cool-off time
(AXES_COOLOFF_TIME, 15 minutes), each set in config/settings.py from the environment:

- ``AXES_FAILURE_LIMIT`` (5): one user name from one address, django-axes' own limit
  (AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]); a successful log-in clears it;
- ``AXES_IP_FAILURE_LIMIT`` (30): one address, whatever the user names (a few passwords tried on
  each of many users); the address is refused for every user name;
- ``AXES_USERNAME_FAILURE_LIMIT`` (10): one user name, whatever the addresses (guesses spread over
  many addresses); the user name is refused from every address.

django-axes compares a single count (the largest over its lockout parameters) with a single
limit, so a different limit per combination cannot be written in its settings. ``LimitsHandler``
(its database handler, AXES_HANDLER) counts the two wider combinations itself, in one query on
the same attempts axes records, and reports the pair's limit as reached when a wider limit is.
A successful log-in clears only that user name from that address (AXES_RESET_ON_SUCCESS): signing
in with one's own account does not clear an address's failures against other accounts. The wider
counts end with the cool-off like the pair's (or with ``manage.py axes_reset_ip <address>`` /
``axes_reset_username <user>``).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Q, Sum

PAIR = "pair"
ADDRESS = "address"
USERNAME = "username"


@dataclass(frozen=True)
class Reached:
    """A limit reached: which (PAIR, ADDRESS, USERNAME), its value, the failures counted."""

    kind: str
    limit: int
    failures: int


def wider_limits() -> dict[str, int]:
    return {
        ADDRESS: int(getattr(settings, "AXES_IP_FAILURE_LIMIT", 30)),
        USERNAME: int(getattr(settings, "AXES_USERNAME_FAILURE_LIMIT", 10)),
    }


def wider_failures(request, credentials: dict | None = None) -> dict[str, int]:
    """Failures of the cool-off time from this address (any user name) and for this user name
    (any address)."""
    address = getattr(request, "axes_ip_address", None)
    username = get_client_username(request, credentials)
    wanted = {ADDRESS: Q(ip_address=address) if address else None}
    wanted[USERNAME] = Q(username=username) if username else None
    conditions = [condition for condition in wanted.values() if condition is not None]
    if not conditions:
        return dict.fromkeys(wanted, 0)
    attempts = AccessAttempt.objects.filter(functools.reduce(operator.or_, conditions))
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
    totals = attempts.aggregate(
        **{
            kind: Sum("failures_since_start", filter=condition)
            for kind, condition in wanted.items()
            if condition is not None
        }
    )
    return {kind: totals.get(kind) or 0 for kind in wanted}


def reached(request, credentials: dict | None = None, *, pair: int | None = None) -> list[Reached]:
    """The limits this request has reached (the pair's count, when known, is ``pair``)."""
    out = []
    if pair is not None:
        limit = get_failure_limit(request, credentials)
        if pair >= limit:
            out.append(Reached(PAIR, limit, pair))
    failures = wider_failures(request, credentials)
    for kind, limit in wider_limits().items():
        if limit > 0 and failures[kind] >= limit:
            out.append(Reached(kind, limit, failures[kind]))
    return out


class LimitsHandler(AxesDatabaseHandler):
    """AxesDatabaseHandler with the per-address and per-user-name limits (module docstring)."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        failures = super().get_failures(request, credentials)
        if reached(request, credentials):
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def pair_failures(self, request, credentials: dict | None = None) -> int:
        return super().get_failures(request, credentials)


def lockout_reasons(request, credentials: dict | None = None) -> list[Reached]:
    """Why this request is locked out, the narrowest limit first (for the lock-out page)."""
    pair = LimitsHandler().pair_failures(request, credentials)
    return reached(request, credentials, pair=pair)
