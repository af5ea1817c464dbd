"""The personas as Django groups, with their model permissions."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

CONTROLLO = "Controllo di gestione"
REFERENTE = "Referente di unità"
OIV = "OIV"
AMMINISTRATORE = "Amministratore"

_APPS = ("organization", "performance", "reports")


def _perms(*, actions: tuple[str, ...], models: tuple[str, ...] | None = None) -> list[Permission]:
    permissions = Permission.objects.filter(content_type__app_label__in=_APPS).select_related(
        "content_type"
    )
    out = []
    for permission in permissions:
        action = permission.codename.split("_", 1)[0]
        if action not in actions:
            continue
        if models is not None and permission.content_type.model not in models:
            continue
        out.append(permission)
    return out


def roles_sync() -> dict[str, Group]:
    """Create or update the four groups (idempotent)."""
    with transaction.atomic():
        groups = {}
        for name in (CONTROLLO, REFERENTE, OIV, AMMINISTRATORE):
            groups[name], _ = Group.objects.get_or_create(name=name)
        groups[CONTROLLO].permissions.set(_perms(actions=("view", "add", "change", "delete")))
        groups[OIV].permissions.set(_perms(actions=("view",)))
        groups[REFERENTE].permissions.set(
            _perms(actions=("view",)) + _perms(actions=("add", "change"), models=("actual",))
        )
        groups[AMMINISTRATORE].permissions.set(
            _perms(actions=("view", "add", "change", "delete"))
            + list(Permission.objects.filter(content_type__app_label="auth"))
        )
    return groups
