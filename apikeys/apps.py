from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = "Access"  # so breadcrumbs read "Access > API keys", not "API keys > API keys"
