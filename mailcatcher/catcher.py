"""The local mail catcher (API.md §9): an SMTP server on loopback that accepts any login (AUTH
PLAIN or LOGIN with any credentials, or no AUTH at all), keeps every message in the database
(CaughtMail, shown by the admin) and never delivers anything onward.

`manage.py run_mail_catcher` runs it and `make run` starts that beside the server and the
worker; in development NATIVE sender accounts send to it (EMAIL_URL defaults to it with DEBUG).
The SMTP conversation runs in aiosmtpd's thread; the database writes in one thread of their
own, so a slow write never holds up the event loop's bookkeeping of other sessions."""

import asyncio
import email.policy
import ipaddress
import logging
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connections

from mailcatcher.models import CaughtMail

logger = logging.getLogger("coldsend.mailcatcher")
HEADER_LIMIT = 998  # the longest header line RFC 5322 allows


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=email.policy.default).parsebytes(raw)


def header(message: EmailMessage, name: str) -> str:
    """One header as a single line of text; empty when missing or unreadable."""
    try:
        value = message.get(name)
    except Exception:  # a malformed header stays readable in the raw message
        return ""
    return " ".join(str(value or "").split())[:HEADER_LIMIT]


def store(mail_from: str, rcpt_tos: list[str], raw: bytes) -> CaughtMail:
    """Keep one message (called in the catcher's database thread)."""
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    close_old_connections()
    try:
        return CaughtMail.objects.create(
            mail_from=(mail_from or "")[:HEADER_LIMIT],
            rcpt_tos=list(rcpt_tos),
            subject=header(headers, "Subject"),
            message_id=header(headers, "Message-ID"),
            size=len(raw),
            raw=raw,
        )
    finally:
        close_old_connections()


def accept_any_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    """Every AUTH PLAIN or LOGIN succeeds, whatever the name and password."""
    return AuthResult(success=True)


class Handler:
    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        loop = asyncio.get_running_loop()
        rcpt_tos = list(envelope.rcpt_tos)
        try:
            caught = await loop.run_in_executor(
                self.executor, store, envelope.mail_from, rcpt_tos, envelope.original_content
            )
        except Exception:
            logger.exception("the mail catcher could not keep a message")
            return "451 4.3.0 The mail catcher could not keep the message; try again"
        logger.info(
            "caught #%s from %s to %s: %s",
            caught.pk,
            caught.mail_from,
            ", ".join(rcpt_tos),
            caught.subject,
        )
        return f"250 2.0.0 Caught as #{caught.pk}; nothing is delivered"


class MailCatcher:
    """The SMTP server (aiosmtpd's Controller, in a thread) and the thread that writes to the
    database. `start()` raises OSError when it cannot listen; `stop()` closes both."""

    def __init__(self, host: str, port: int, max_bytes: int | None = None) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"The mail catcher listens on loopback only (127.0.0.1, ::1, localhost), "
                f"not {host}: it accepts any login."
            )
        self.host, self.port = host, port
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailcatcher-db")
        self.controller = Controller(
            Handler(self.executor),
            hostname=host,
            port=port,
            server_hostname="localhost",
            ident="ColdSend mail catcher (nothing is delivered)",
            authenticator=accept_any_login,
            auth_require_tls=False,  # loopback only, and any password passes anyway
            data_size_limit=max_bytes or settings.MAIL_CATCHER_MAX_BYTES,
            enable_SMTPUTF8=True,
        )

    def start(self) -> None:
        try:
            self.controller.start()
        except Exception as exc:
            self.executor.shutdown()
            raise OSError(f"Cannot listen on {self.host}:{self.port}: {exc}") from exc

    def stop(self) -> None:
        self.controller.stop()
        self.executor.submit(connections.close_all).result()
        self.executor.shutdown()
