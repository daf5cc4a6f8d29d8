from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.services import on_recorded
        from webhooks import dispatch, signals  # noqa: F401 (the campaign-deleted receiver)

        on_recorded.append(dispatch.hurry)
