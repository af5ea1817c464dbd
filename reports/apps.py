from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Relazione sulla Performance"

    def ready(self) -> None:
        from organization import editability
        from reports import checks  # noqa: F401 - registers the deploy checks
        from reports.workflow import selectors

        # what the OIV reopened is the workflow's record: the lower layer reads it through this
        editability.reopened_source(selectors.reopened)
