"""`manage.py caught_mail`: what the local mail catcher caught, newest first, one line each
(the admin shows each message: Mail catcher, Caught mail)."""

from django.core.management.base import BaseCommand, CommandParser

from mailcatcher.models import CaughtMail


class Command(BaseCommand):
    help = "List the mail the local mail catcher caught, newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=20, help="at most this many (20)")

    def handle(self, *args: object, **options: object) -> None:
        total = CaughtMail.objects.count()
        self.stdout.write(f"{total} caught; the admin shows each one under Mail catcher.")
        fields = ["id", "received_at", "mail_from", "rcpt_tos", "subject"]
        for mail in CaughtMail.objects.only(*fields)[: options["limit"]]:
            self.stdout.write(
                f"#{mail.pk}  {mail.received_at:%Y-%m-%d %H:%M:%S}  {mail.mail_from} -> "
                f"{', '.join(mail.rcpt_tos)}  {mail.subject}"
            )
