from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Relazione sulla Performance"

    def ready(self) -> None:
        from reports import checks  # noqa: F401 - registers the deploy checks
