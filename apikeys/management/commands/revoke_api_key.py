import contextlib
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys import keys
from apikeys.models import APIKey
from apikeys.services import revoke_api_key
from audit.services import Actor


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (cs_live_XXXXXXXX) or its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix_or_id")

    def handle(self, *args: Any, **options: Any) -> None:
        ident = options["prefix_or_id"].strip()
        key = self._find(ident)
        if key is None:
            raise CommandError("No API key with that prefix or id.")
        if key.revoked_at is not None:
            self.stdout.write(
                f"Key {key.prefix}… was already revoked at {key.revoked_at.isoformat()}."
            )
            return
        revoke_api_key(key, actor=Actor.command("revoke_api_key"))
        self.stdout.write(f"Revoked key {key.name!r} ({key.prefix}…).")

    @staticmethod
    def _find(ident: str) -> APIKey | None:
        """By id, by the 16-character prefix, or by the whole raw key (its hash must match)."""
        with contextlib.suppress(ValueError):
            return APIKey.objects.filter(id=uuid.UUID(ident)).first()
        if keys.is_well_formed(ident):
            key = APIKey.objects.filter(prefix=keys.lookup_prefix(ident)).first()
            return key if key and key.key_hash == keys.hash_key(ident) else None
        if len(ident) == len(keys.KEY_PREFIX) + keys.LOOKUP_LENGTH:
            return APIKey.objects.filter(prefix=ident).first()
        return None
