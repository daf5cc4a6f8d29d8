from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Model, Q, TextField, Value
from django.db.models.functions import Cast

from sender_accounts.fields import DecryptionError, rotate
from sender_accounts.models import SenderAccount
from webhooks.models import WebhookEndpoint

# Every encrypted secret a sender account holds.
ENCRYPTED_FIELDS = ("smtp_password", "imap_password")
# Every encrypted secret a webhook endpoint holds (the previous one during a rotation).
WEBHOOK_FIELDS = ("secret", "previous_secret")


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored SMTP and IMAP password and webhook secret under the first "
        "key of FIELD_ENCRYPTION_KEYS. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        size = max(1, options["batch_size"])
        rotated, failed = self.rotate_model(SenderAccount, ENCRYPTED_FIELDS, size)
        self.stdout.write(
            f"Re-encrypted {rotated} sender account password(s) under the current first key."
        )
        hooks_rotated, hooks_failed = self.rotate_model(WebhookEndpoint, WEBHOOK_FIELDS, size)
        self.stdout.write(
            f"Re-encrypted {hooks_rotated} webhook secret(s) under the current first key."
        )
        problems = []
        if failed:
            problems.append(f"{len(failed)} password(s) (sender accounts: {', '.join(failed)})")
        if hooks_failed:
            problems.append(
                f"{len(hooks_failed)} webhook secret(s) (endpoints: {', '.join(hooks_failed)})"
            )
        if problems:
            raise CommandError(
                " and ".join(problems) + " could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS and were left as they were."
            )

    @staticmethod
    def rotate_model(model: type[Model], fields: tuple[str, ...], size: int) -> tuple[int, list]:
        """Re-encrypt `fields` of every row of `model` holding one: how many tokens were
        rotated, and the "pk (field)" of those no key decrypts (left as they were)."""
        has_secret = Q()
        for field in fields:
            has_secret |= ~Q(**{field: ""})
        ids = list(model.objects.filter(has_secret).order_by("pk").values_list("pk", flat=True))
        rotated, failed = 0, []
        for batch in (ids[i : i + size] for i in range(0, len(ids), size)):
            with transaction.atomic():
                # The raw tokens, read through a plain-text cast so the fields do not decrypt them.
                rows = (
                    model.objects.select_for_update()
                    .filter(pk__in=batch)
                    .annotate(**{f"raw_{f}": Cast(f, TextField()) for f in fields})
                    .values("pk", *(f"raw_{f}" for f in fields))
                )
                for row in rows:
                    for field in fields:
                        token = row[f"raw_{field}"]
                        if not token:
                            continue
                        try:
                            new_token = rotate(token)
                        except DecryptionError:
                            failed.append(f"{row['pk']} ({field})")
                            continue
                        # A Value with a plain output field is written as is, not encrypted again.
                        model.objects.filter(pk=row["pk"]).update(
                            **{field: Value(new_token, output_field=TextField())}
                        )
                        rotated += 1
        return rotated, failed
