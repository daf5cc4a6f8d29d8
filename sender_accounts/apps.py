from django.apps import AppConfig


class SenderAccountsConfig(AppConfig):
    name = "sender_accounts"
    verbose_name = "Sender accounts"
