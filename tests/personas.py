"""The people of the tests, one set for every file: anonymous, a user without a role, the referent
of the Servizio Registro Imprese, the referent of another unit (Servizio di Promozione), the
controllo di gestione, the OIV and an administrator (superuser).

``personas`` (tests/conftest.py) gives a ``Personas`` of the 2019 cycle: a mapping from the
persona's key (the names the URL walk prints: ``anonimo``, ``nessun-ruolo``, ``referente-ri``,
``referente-altro``, ``controllo``, ``oiv``, ``admin``) to its user (``None`` for anonymous), with
attributes for the same people (``personas.controllo``) and ``personas.client(key)``, a test
client logged in as that persona. A user is created the first time it is asked for (a test that
needs only the controllo writes no other user), with the password ``tests.factories.PASSWORD``.

``Personas(cycle, first_names=True)`` gives the users a first name (``Controllo``, ``Oiv``...),
for the tests that read the actor's name (``get_full_name()``) in a record or a page; without it
the pages show the user name (``Salvato da controllo``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from organization import roles

RI = "registro-imprese"  # Servizio Registro Imprese
OTHER_UNIT = "promozione"  # Servizio di Promozione


@dataclass(frozen=True)
class Persona:
    username: str
    group: str | None = None
    unit_key: str | None = None
    superuser: bool = False


PERSONAS: dict[str, Persona | None] = {
    "anonimo": None,
    "nessun-ruolo": Persona("nessun-ruolo"),
    "referente-ri": Persona("referente-ri", roles.REFERENTE, RI),
    "referente-altro": Persona("referente-promozione", roles.REFERENTE, OTHER_UNIT),
    "controllo": Persona("controllo", roles.CONTROLLO),
    "oiv": Persona("oiv", roles.OIV),
    "admin": Persona("admin", superuser=True),
}


class Personas(Mapping):
    """The personas of ``cycle`` (their referents are referents of its units), created on use."""

    def __init__(self, cycle, *, first_names: bool = False) -> None:
        self.cycle = cycle
        self.first_names = first_names
        self._users: dict = {}
        self._groups: dict | None = None

    def __getitem__(self, key: str):
        persona = PERSONAS[key]
        if persona is None:
            return None
        if key not in self._users:
            self._users[key] = self._create(persona)
        return self._users[key]

    def __iter__(self) -> Iterator[str]:
        return iter(PERSONAS)

    def __len__(self) -> int:
        return len(PERSONAS)

    def __contains__(self, key) -> bool:
        return key in PERSONAS

    def _create(self, persona: Persona):
        from organization.models import Unit
        from tests.factories import UserFactory

        if self._groups is None:
            self._groups = roles.roles_sync()
        user = UserFactory(
            username=persona.username,
            first_name=persona.username.title() if self.first_names else "",
            last_name="",
            is_staff=persona.superuser,
            is_superuser=persona.superuser,
        )
        if persona.group:
            user.groups.add(self._groups[persona.group])
        if persona.unit_key:
            Unit.objects.get(cycle=self.cycle, key=persona.unit_key).referents.add(user)
        return user

    def client(self, key: str, **kwargs):
        """A test client logged in as ``key`` (not logged in for ``anonimo``)."""
        from django.test import Client

        client = Client(**kwargs)
        user = self[key]
        if user is not None:
            client.force_login(user)
        return client

    @property
    def anonymous(self) -> None:
        return None

    @property
    def no_role(self):
        return self["nessun-ruolo"]

    @property
    def referent(self):
        """Referent of the Servizio Registro Imprese."""
        return self["referente-ri"]

    @property
    def other_referent(self):
        """Referent of the Servizio di Promozione."""
        return self["referente-altro"]

    @property
    def controllo(self):
        return self["controllo"]

    @property
    def oiv(self):
        return self["oiv"]

    @property
    def admin(self):
        return self["admin"]
