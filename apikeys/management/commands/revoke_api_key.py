import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.models import APIKey


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (cs_live_XXXXXXXX) or its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix_or_id")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["prefix_or_id"].strip()
        try:
            key = APIKey.objects.get(id=uuid.UUID(ident))
        except (ValueError, APIKey.DoesNotExist):
            matches = list(APIKey.objects.filter(prefix=ident[:16])) if len(ident) >= 16 else []
            if len(matches) != 1:
                raise CommandError("No API key with that prefix or id.") from None
            key = matches[0]
        if key.revoked_at is not None:
            self.stdout.write(
                f"Key {key.prefix}… was already revoked at {key.revoked_at.isoformat()}."
            )
            return
        key.revoke()
        self.stdout.write(f"Revoked key {key.name!r} ({key.prefix}…).")
