"""`manage.py run_mail_catcher`: the local mail catcher (mailcatcher/catcher.py), until SIGTERM
or Ctrl-C. `make run` starts it (Procfile)."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailcatcher.catcher import MailCatcher


class Command(BaseCommand):
    help = (
        "Run the local mail catcher: SMTP on MAIL_CATCHER_HOST:MAIL_CATCHER_PORT (loopback, "
        "default 127.0.0.1:1025) accepting any login or none, keeping every message for the "
        "admin (Mail catcher) and delivering nothing onward. For development."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", help="default: MAIL_CATCHER_HOST")
        parser.add_argument("--port", type=int, help="default: MAIL_CATCHER_PORT")

    def handle(self, *args: object, **options: object) -> None:
        host = options["host"] or settings.MAIL_CATCHER_HOST
        port = settings.MAIL_CATCHER_PORT if options["port"] is None else options["port"]
        try:
            catcher = MailCatcher(host, port)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # aiosmtpd logs every command of every session at INFO: the catcher logs one line per
        # message itself (logger coldsend.mailcatcher).
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        try:
            catcher.start()
        except OSError as exc:
            raise CommandError(
                f"{exc}. Is another mail catcher running? Choose another port with "
                "MAIL_CATCHER_PORT (in development EMAIL_URL follows it)."
            ) from None
        self.stdout.write(
            f"Mail catcher on smtp://{host}:{port}: any login or none, nothing delivered; "
            "caught mail is in the admin under Mail catcher."
        )
        self.stdout.flush()
        try:
            while not stopping.wait(1):
                pass
        finally:
            catcher.stop()
