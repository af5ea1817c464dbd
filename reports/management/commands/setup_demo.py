import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from organization import roles
from organization.models import Cycle, Unit
from performance.dataset import read_dataset
from performance.services import cycle_load
from reports.models import Relazione
from reports.relazione.services import relazione_load
from reports.workflow import publishing

DATASET = Path(settings.BASE_DIR) / "fixtures" / "cycle-2019.yaml"
RELAZIONE_DATASET = Path(settings.BASE_DIR) / "fixtures" / "relazione-2019.yaml"
DEMO_YEAR = 2019


class Command(BaseCommand):
    help = (
        "Prepara la demo (idempotente): migra il database, carica il ciclo 2019 e crea gli "
        "utenti demo (solo con DEBUG attivo; password da DEMO_PASSWORD o generata)."
    )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database aggiornato.")
        if Cycle.objects.filter(year=DEMO_YEAR).exists():
            self.stdout.write(f"Ciclo {DEMO_YEAR} già presente.")
        else:
            cycle_load(data=read_dataset(DATASET))
            self.stdout.write(self.style.SUCCESS(f"Caricato il ciclo {DEMO_YEAR}."))
        cycle = Cycle.objects.get(year=DEMO_YEAR)
        if not Relazione.objects.filter(cycle=cycle).exists():
            relazione_load(cycle=cycle, data=read_dataset(RELAZIONE_DATASET))
            self.stdout.write(self.style.SUCCESS(f"Caricata la Relazione {DEMO_YEAR}."))
        else:
            self.stdout.write(f"Relazione {DEMO_YEAR} già presente.")
        groups = roles.roles_sync()
        if not settings.DEBUG:
            raise CommandError(
                "DEBUG è disattivato: gli utenti demo non vengono creati in produzione."
            )
        self._users(groups)

    def _users(self, groups) -> None:
        User = get_user_model()
        password = os.environ.get("DEMO_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        cycle = Cycle.objects.get(year=DEMO_YEAR)
        people = [
            ("admin", roles.AMMINISTRATORE, None, True),
            ("controllo", roles.CONTROLLO, None, True),
            ("oiv", roles.OIV, None, True),
            ("referente-ri", roles.REFERENTE, "registro-imprese", False),
        ]
        for unit in Unit.objects.filter(cycle=cycle).exclude(kind__in=["ente", "group", "area"]):
            if unit.kind == Unit.Kind.UFFICIO and unit.parent and unit.parent.kind != "group":
                continue  # offices inside a service: the service's referent covers them
            if unit.key != "registro-imprese":
                people.append((f"referente-{unit.key}", roles.REFERENTE, unit.key, False))
        created = []
        with transaction.atomic():
            for username, group, unit_key, staff in people:
                user, is_new = User.objects.get_or_create(
                    username=username, defaults={"is_staff": staff}
                )
                if is_new or not generated:
                    user.set_password(password)
                    user.is_superuser = group == roles.AMMINISTRATORE
                    user.is_staff = staff
                    user.save()
                if is_new:
                    created.append(username)
                user.groups.add(groups[group])
                if unit_key:
                    Unit.objects.get(cycle=cycle, key=unit_key).referents.add(user)
        self._workflow(cycle)
        if created and generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Utenti demo creati: {', '.join(created)}. Password (mostrata una volta "
                    f"sola): {password}"
                )
            )
        elif created:
            self.stdout.write(f"Utenti demo creati: {', '.join(created)} (password DEMO_PASSWORD).")
        else:
            self.stdout.write("Utenti demo già presenti.")

    def _workflow(self, cycle: Cycle) -> None:
        """Take the demo year through the workflow with the demo users, from where it is up to
        the publication (idempotent): monitoring, reporting, review of the consistency report,
        submission to the OIV, every objective accepted, validation (documento di validazione
        and frozen version, with its PDF), publication. A state it does not handle (returned
        with remarks) is left as it is."""
        User = get_user_model()
        controllo = User.objects.get(username="controllo")
        oiv = User.objects.get(username="oiv")
        publishing.oiv_member_ensure(
            cycle=cycle,
            name="Componente dell'OIV (dato dimostrativo)",
            role="OIV monocratico",
            user=oiv,
        )
        cycle.refresh_from_db()
        Status = Cycle.Status
        already = cycle.status == Status.PUBLISHED
        try:
            publishing.cycle_publish_through_workflow(
                cycle=cycle,
                controllo=controllo,
                oiv=oiv,
                comment="Demo",
                consistency_comment="Le differenze con il documento di origine sono note: "
                "prevale la cifra calcolata.",
                decision_text="La Relazione è validata sulla base dei dati del Piano e dei "
                "valori rilevati; le differenze segnalate dal rapporto di coerenza sono state "
                "esaminate (prevalgono le cifre calcolate).",
            )
            if already:
                self.stdout.write(f"Relazione {DEMO_YEAR} già pubblicata.")
            elif cycle.status == Status.PUBLISHED:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Relazione {DEMO_YEAR} validata dall'OIV e pubblicata "
                        "(versione congelata)."
                    )
                )
            else:
                self.stdout.write(
                    f"Ciclo {DEMO_YEAR} nello stato «{cycle.get_status_display()}»: lasciato com'è."
                )
        except ValidationError as error:
            self.stdout.write(
                self.style.WARNING(
                    f"Flusso del ciclo {DEMO_YEAR} interrotto: " + " ".join(error.messages)
                )
            )
