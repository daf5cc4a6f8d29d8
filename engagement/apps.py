from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"

    def ready(self) -> None:
        from engagement import checks  # noqa: F401  (registers the trigger check)
