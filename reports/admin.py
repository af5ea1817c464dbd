"""The admin of the reports app: each layer registers its own models."""

from reports.relazione import admin as relazione_admin  # noqa: F401 - the Relazione's narrative
from reports.workflow import admin as workflow_admin  # noqa: F401 - the OIV's members, the audit trail
