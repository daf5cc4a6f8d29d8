from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Q, TextField, Value
from django.db.models.functions import Cast

from sender_accounts.fields import DecryptionError, rotate
from sender_accounts.models import SenderAccount

# Every encrypted secret a sender account holds.
ENCRYPTED_FIELDS = ("smtp_password", "imap_password")


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored SMTP and IMAP password under the first key of "
        "FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        has_secret = Q()
        for field in ENCRYPTED_FIELDS:
            has_secret |= ~Q(**{field: ""})
        ids = list(
            SenderAccount.objects.filter(has_secret).order_by("pk").values_list("pk", flat=True)
        )
        size = max(1, options["batch_size"])
        rotated, failed = 0, []
        for batch in (ids[i : i + size] for i in range(0, len(ids), size)):
            with transaction.atomic():
                # The raw tokens, read through a plain-text cast so the fields do not decrypt them.
                rows = (
                    SenderAccount.objects.select_for_update()
                    .filter(pk__in=batch)
                    .annotate(**{f"raw_{f}": Cast(f, TextField()) for f in ENCRYPTED_FIELDS})
                    .values("pk", *(f"raw_{f}" for f in ENCRYPTED_FIELDS))
                )
                for row in rows:
                    for field in ENCRYPTED_FIELDS:
                        token = row[f"raw_{field}"]
                        if not token:
                            continue
                        try:
                            new_token = rotate(token)
                        except DecryptionError:
                            failed.append(f"{row['pk']} ({field})")
                            continue
                        # A Value with a plain output field is written as is, not encrypted again.
                        SenderAccount.objects.filter(pk=row["pk"]).update(
                            **{field: Value(new_token, output_field=TextField())}
                        )
                        rotated += 1
        self.stdout.write(
            f"Re-encrypted {rotated} sender account password(s) under the current first key."
        )
        if failed:
            raise CommandError(
                f"{len(failed)} password(s) could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS and were left as they were; sender accounts: "
                + ", ".join(failed)
            )
