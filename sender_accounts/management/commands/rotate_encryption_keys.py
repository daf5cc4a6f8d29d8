from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from sender_accounts.fields import DecryptionError, rotate
from sender_accounts.models import SenderAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored SMTP password under the first key of FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        ids = list(
            SenderAccount.objects.exclude(smtp_password="")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        size = max(1, options["batch_size"])
        rotated, failed = 0, []
        for batch in (ids[i : i + size] for i in range(0, len(ids), size)):
            with transaction.atomic():
                # The raw token, read through a plain-text cast so the field does not decrypt it.
                rows = (
                    SenderAccount.objects.select_for_update()
                    .filter(pk__in=batch)
                    .annotate(token=Cast("smtp_password", TextField()))
                    .values_list("pk", "token")
                )
                for pk, token in rows:
                    if not token:
                        continue
                    try:
                        new_token = rotate(token)
                    except DecryptionError:
                        failed.append(str(pk))
                        continue
                    # A Value with a plain output field is written as is, not encrypted again.
                    SenderAccount.objects.filter(pk=pk).update(
                        smtp_password=Value(new_token, output_field=TextField())
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
