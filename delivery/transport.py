"""Talking SMTP: one session per sender account per batch, split so that MAIL FROM can run
inside the engine's gate and RCPT/DATA after it.

SMTP accounts use their own host, port, security and credentials; NATIVE accounts use the
service's EMAIL_URL (its SMTP relay, or any other Django email backend such as the console).

Someone else's server, so guarded (API.md §7): besides SMTP_TIMEOUT_SECONDS per read, the
session's opening (connect to AUTH) and each message (MAIL FROM to the end of DATA) have a total
deadline, SMTP_SESSION_DEADLINE_SECONDS, however slowly the server drips its answers; and an
answer is read up to MAX_REPLY_BYTES, however many lines it has."""

import contextlib
import functools
import smtplib
import socket
import ssl
from email.message import EmailMessage

from django.conf import settings
from django.core import mail

from coldsend.core import netcheck
from coldsend.core.deadline import Deadline
from coldsend.core.netcheck import HostRefused
from delivery import answers
from sender_accounts.models import SenderAccount


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's CAs (built once: loading them is slow)."""
    return ssl.create_default_context()


class AccountError(Exception):
    """A failure of the account phase (connect, EHLO, STARTTLS, AUTH, MAIL FROM): never about a
    lead. A short, secret-free text for `last_error`; `at_once` when it puts the account in
    ERROR without waiting for more (authentication refused, the server unreachable)."""

    def __init__(self, text: str, *, at_once: bool = False) -> None:
        super().__init__(text)
        self.at_once = at_once


class Bounce(Exception):
    """A hard bounce at RCPT TO or the end of DATA (answers.Verdict.HARD)."""


class Refused(Exception):
    """A permanent refusal of this message, not of the address (answers.Verdict.REFUSED)."""


class TemporaryFailure(Exception):
    """A temporary failure of this message (answers.Verdict.TEMPORARY), a dropped connection or
    a timeout after MAIL FROM: try again later."""


FAILURES = {
    answers.Verdict.HARD: Bounce,
    answers.Verdict.REFUSED: Refused,
    answers.Verdict.TEMPORARY: TemporaryFailure,
}


class Unreachable(OSError):
    """No connection could be made to the server (refused, no route, DNS, timeout)."""


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"[:250]


def _refusal(code: int, text: bytes | str, phase: answers.Phase) -> Exception:
    """The exception for a refusal at RCPT TO or the end of DATA, by answers.judge."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return FAILURES[answers.judge(code, text, phase)](_reply(code, text))


# An answer (all its lines) longer than this is the server's fault: an EHLO answer is ~300 bytes.
MAX_REPLY_BYTES = 64 * 1024


class ReplyTooLong(smtplib.SMTPResponseException):
    def __init__(self) -> None:
        super().__init__(500, "Reply too long.")


class _Guarded:
    """For smtplib's classes: the socket under the session's deadline, and answers read up to
    MAX_REPLY_BYTES (smtplib bounds each line, not how many lines an answer has)."""

    checked = True
    deadline: Deadline

    def _connected(self, host: str, port: int, timeout: float) -> socket.socket:
        timeout = min(timeout, self.deadline.remaining())
        try:
            sock = netcheck.connect(host, port, timeout, self.checked)
        except HostRefused:
            raise
        except OSError as exc:
            raise Unreachable(f"Cannot connect to {host}:{port} ({type(exc).__name__}).") from exc
        self.deadline.watch(sock)
        return sock

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None:
            self.file = self.sock.makefile("rb")
        lines, size = [], 0
        while True:
            try:
                line = self.file.readline(smtplib._MAXLINE + 1)
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    f"Connection unexpectedly closed: {exc}"
                ) from exc
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            size += len(line)
            if len(line) > smtplib._MAXLINE or size > MAX_REPLY_BYTES:
                self.close()
                raise ReplyTooLong
            lines.append(line[4:].strip(b" \t\r\n"))
            try:
                code = int(line[:3])
            except ValueError:
                return -1, b"\n".join(lines)
            if line[3:4] != b"-":
                return code, b"\n".join(lines)


class _SMTP(_Guarded, smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._connected(host, port, timeout)

    def starttls(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        answer = super().starttls(*args, **kwargs)
        self.deadline.watch(self.sock)  # the TLS socket took the plain one's place
        return answer


class _SMTP_SSL(_Guarded, smtplib.SMTP_SSL):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = self._connected(host, port, timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH with one mechanism (PLAIN, else LOGIN): one refusal is the answer, not a cue to try
    another mechanism on a connection the server may have given up."""
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("AUTH")
    advertised = smtp.esmtp_features["auth"].upper().split()
    smtp.user, smtp.password = username, password
    for mechanism in ("PLAIN", "LOGIN"):
        if mechanism in advertised:
            method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
            smtp.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
            return
    raise smtplib.SMTPNotSupportedError("AUTH")


class Session:
    """One open connection of one account. `begin` sends MAIL FROM, `finish` RCPT and DATA."""

    def begin(self, sender: str) -> None:
        raise NotImplementedError

    def finish(self, recipient: str, message: EmailMessage) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """After a failed transaction: RSET, or drop the connection to reconnect."""

    def close(self) -> None:
        """Quit."""


class SMTPSession(Session):
    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        checked: bool = True,
        deadline_seconds: float | None = None,
    ) -> None:
        self.host, self.port, self.security, self.checked = host, port, security, checked
        self.username, self.password = username, password
        self.smtp: smtplib.SMTP | None = None
        self.deadline = Deadline(deadline_seconds or settings.SMTP_SESSION_DEADLINE_SECONDS)

    def _too_slow(self) -> str | None:
        if not self.deadline.expired:
            return None
        return f"The server took over {self.deadline.seconds:g} seconds (the session deadline)."

    def open(self) -> None:
        self.deadline.restart()
        try:
            self._open()
        except AccountError as exc:
            slow = self._too_slow()
            raise AccountError(slow or str(exc), at_once=exc.at_once and not slow) from None
        finally:
            self.deadline.stop()

    def _open(self) -> None:
        timeout = settings.SMTP_TIMEOUT_SECONDS
        context = _tls_context() if self.security != SenderAccount.Security.NONE else None
        try:
            if self.security == SenderAccount.Security.SSL:
                smtp = _SMTP_SSL(timeout=timeout, context=context)
            else:
                smtp = _SMTP(timeout=timeout)
            smtp.checked, smtp.deadline = self.checked, self.deadline
            code, text = smtp.connect(self.host, self.port)
            if code != 220:
                smtp.close()
                raise AccountError(f"The server refused the connection: {_reply(code, text)}")
            smtp.ehlo()
            if self.security == SenderAccount.Security.STARTTLS:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                _login(smtp, self.username, self.password)
        except (HostRefused, Unreachable) as exc:
            raise AccountError(str(exc), at_once=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise AccountError(
                f"Authentication refused ({exc.smtp_code}).",
                at_once=exc.smtp_code in answers.AUTH_REFUSED,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            offered = "STARTTLS" if "STARTTLS" in str(exc) else "AUTH"
            raise AccountError(f"The server does not offer {offered}.") from None
        except ssl.SSLError as exc:
            raise AccountError(f"TLS failed: {exc.reason or 'handshake error'}.") from None
        except ReplyTooLong:
            raise AccountError(
                f"Cannot connect to {self.host}:{self.port} (the server's answer is too long)."
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise AccountError(
                f"Cannot connect to {self.host}:{self.port} ({type(exc).__name__})."
            ) from None
        self.smtp = smtp

    def _live(self) -> smtplib.SMTP:
        if self.smtp is None:
            self.open()
        return self.smtp

    def begin(self, sender: str) -> None:
        """MAIL FROM: any failure is the account's (AccountError), never the lead's."""
        smtp = self._live()
        self.deadline.restart()  # each message has the whole deadline; `finish` stops it
        try:
            code, text = smtp.mail(sender)
        except UnicodeEncodeError:
            self.deadline.stop()
            raise AccountError("The sender's address cannot be written in ASCII.") from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            self.deadline.stop()
            lost = f"Connection lost at MAIL FROM ({type(exc).__name__})."
            raise AccountError(self._too_slow() or lost) from None
        if code != 250:
            self.reset()
            self.deadline.stop()
            raise AccountError(
                f"MAIL FROM refused: {_reply(code, text)}", at_once=code in answers.AUTH_REFUSED
            )

    def finish(self, recipient: str, message: EmailMessage) -> None:
        """RCPT TO and DATA: a refusal is judged by answers.judge (Bounce, Refused,
        TemporaryFailure); a dropped connection or the deadline is a TemporaryFailure."""
        try:
            self._finish(recipient, message)
        finally:
            self.deadline.stop()

    def _finish(self, recipient: str, message: EmailMessage) -> None:
        smtp = self.smtp
        try:
            try:
                code, text = smtp.rcpt(recipient)
            except UnicodeEncodeError:  # an address SMTP cannot carry without SMTPUTF8
                self.reset()
                raise Refused("The recipient's address cannot be written in ASCII.") from None
            if code not in (250, 251):
                self.reset()
                raise _refusal(code, text, answers.Phase.RCPT)
            code, text = smtp.data(message.as_bytes())
            if code != 250:
                self.reset()
                raise _refusal(code, text, answers.Phase.DATA)
        except smtplib.SMTPDataError as exc:
            self.reset()
            raise _refusal(exc.smtp_code, exc.smtp_error, answers.Phase.DATA) from None
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            self._drop()
            lost = f"Connection lost ({type(exc).__name__})."
            raise TemporaryFailure(self._too_slow() or lost) from None

    def reset(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            self.deadline.restart(min(self.deadline.seconds, settings.SMTP_TIMEOUT_SECONDS))
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self.deadline.stop()
        self._drop()


class _Prebuilt(mail.EmailMessage):
    """Hands an already built message to a Django email backend."""

    def __init__(self, built: EmailMessage, sender: str, recipient: str) -> None:
        super().__init__(from_email=sender, to=[recipient])
        self.built = built

    def message(self, *args: object, **kwargs: object) -> EmailMessage:
        return self.built


class BackendSession(Session):
    """NATIVE accounts when EMAIL_URL is not SMTP (the console in development, memory in
    tests): there is no transaction to start, the backend sends the whole message."""

    def __init__(self) -> None:
        self.connection = mail.get_connection(fail_silently=False)
        self.sender = ""

    def begin(self, sender: str) -> None:
        self.sender = sender

    def finish(self, recipient: str, message: EmailMessage) -> None:
        try:
            self.connection.send_messages([_Prebuilt(message, self.sender, recipient)])
        except Exception as exc:
            raise TemporaryFailure(f"Outgoing mail failed ({type(exc).__name__}).") from None


SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def open_session(account: SenderAccount, deadline_seconds: float | None = None) -> Session:
    """A connected, authenticated session for the account; AccountError if it cannot send.
    Its opening and each message have `deadline_seconds` (SMTP_SESSION_DEADLINE_SECONDS)."""
    if account.type == SenderAccount.Type.NATIVE:
        if settings.EMAIL_BACKEND != SMTP_BACKEND:
            return BackendSession()
        security = (
            SenderAccount.Security.SSL
            if settings.EMAIL_USE_SSL
            else SenderAccount.Security.STARTTLS
            if settings.EMAIL_USE_TLS
            else SenderAccount.Security.NONE
        )
        session = SMTPSession(
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            security,
            settings.EMAIL_HOST_USER,
            settings.EMAIL_HOST_PASSWORD,
            checked=False,  # the operator's own relay
            deadline_seconds=deadline_seconds,
        )
    else:
        session = SMTPSession(
            account.smtp_host,
            account.smtp_port or 25,
            account.smtp_security or SenderAccount.Security.NONE,
            account.smtp_username,
            account.smtp_password,
            deadline_seconds=deadline_seconds,
        )
    session.open()
    return session
