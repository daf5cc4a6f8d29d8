from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apikeys.scopes import UnknownScopeError, parse_scopes
from apikeys.services import create_api_key
from audit.services import Actor
from workspaces.models import Workspace


class Command(BaseCommand):
    help = "Create an API key; the raw key is printed alone on the last line, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help='e.g. "campaigns:read,leads:all"')
        parser.add_argument(
            "--workspace", default="default", help="workspace slug (created if missing)"
        )
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = parse_scopes(options["scopes"])
        except UnknownScopeError as error:
            raise CommandError(str(error)) from None
        if not scopes:
            raise CommandError("At least one scope is required.")
        if not options["name"].strip():
            raise CommandError("--name must not be empty.")
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        slug = options["workspace"]
        try:
            Workspace.validate_slug(slug)
        except ValidationError as error:
            raise CommandError(f"--workspace {slug!r}: {' '.join(error.messages)}") from None
        workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": slug})
        key, raw = create_api_key(
            workspace=workspace,
            name=options["name"],
            scopes=scopes,
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            actor=Actor.command("create_api_key"),
        )
        self.stdout.write(
            f"Created key {key.name!r} ({key.prefix}…) in workspace {workspace.slug!r} "
            f"with scopes {', '.join(key.scopes)}. Store it now: it is not shown again."
        )
        self.stdout.write(raw)
