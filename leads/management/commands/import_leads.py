import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.services import Actor
from campaigns.models import Campaign
from delivery.actions import do_import_leads
from leads import importing


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file into a campaign through the one import action that "
        "POST leads/import calls (suppressed addresses marked, new leads scheduled); "
        "prints the report as JSON on stdout (progress goes to stderr)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="the CSV file")
        parser.add_argument("--campaign", required=True, help="the campaign id")

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = self.campaign(options["campaign"])
        path: Path = options["file"]
        try:
            file = path.open("rb")
        except OSError as exc:
            raise CommandError(f"Cannot open {path}: {exc.strerror}.") from None
        with file:
            size = os.fstat(file.fileno()).st_size
            if size > importing.max_bytes():
                raise CommandError(importing.too_many_bytes_message())
            with tqdm(
                total=size, unit="B", unit_scale=True, file=sys.stderr, desc=path.name
            ) as bar:
                try:
                    report = do_import_leads(
                        campaign,
                        csv_file=file,
                        actor=Actor.command("import_leads"),
                        progress=lambda done: bar.update(done - bar.n),
                    )
                except (importing.ImportFileError, importing.ImportTooLarge) as exc:
                    raise CommandError(str(exc)) from None
                except Campaign.DoesNotExist:
                    raise CommandError(f"Campaign {campaign.pk} no longer exists.") from None
        self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))

    def campaign(self, raw: str) -> Campaign:
        try:
            campaign_id = uuid.UUID(raw)
        except ValueError:
            raise CommandError(f"--campaign {raw!r} is not a campaign id (a UUID).") from None
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"Campaign {campaign_id} not found.")
        return campaign
