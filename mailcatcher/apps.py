from django.apps import AppConfig


class MailcatcherConfig(AppConfig):
    """Development tooling: the local mail catcher that `make run` starts (API.md §9). It
    stands alone: it imports no other app of the project, and none imports it."""

    name = "mailcatcher"
    verbose_name = "Mail catcher"
