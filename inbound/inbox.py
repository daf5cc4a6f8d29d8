"""Reading the inboxes of sender accounts (API.md §8): every INBOX_POLL_SECONDS, each SMTP
account with `imap` settings is read from where the last poll stopped (UIDVALIDITY + last UID),
read-only (SELECT with EXAMINE, BODY.PEEK: no flag set, nothing moved or deleted), and each new
message is classified (tracking/classify.py) and recorded against the message of ours it names,
only ever within the account's workspace.

An IMAP failure changes nothing but `last_error`: the same messages are read next round."""

import contextlib
import hashlib
import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message as EmailMessage

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS, wrap_socket

from campaigns.models import Campaign
from coldsend.core import clock, netcheck
from coldsend.core.netcheck import HostRefused
from delivery.models import Message
from inbound import classify, services
from inbound.models import InboxState, ReadMail
from sender_accounts.models import SenderAccount

logger = logging.getLogger("inbound")

FOLDER = "INBOX"
FETCH_BATCH = 50
ERROR_PREFIX = "IMAP: "


class InboxError(Exception):
    """The inbox could not be read: a short, secret-free text for `last_error`."""


def imap_accounts() -> "Q":
    return Q(type=SenderAccount.Type.SMTP) & ~Q(imap_host="")


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.IMAP_TLS_CA_FILE:  # e.g. the test server's own certificate
        context.load_verify_locations(settings.IMAP_TLS_CA_FILE)
    return context


class _CheckedIMAP4(IMAP4WithTimeout):
    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return netcheck.connect(self.host, self.port, self._timeout if timeout is None else timeout)


class _CheckedIMAP4TLS(IMAP4_TLS):
    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = netcheck.connect(self.host, self.port, self._timeout if timeout is None else timeout)
        return wrap_socket(sock, self.ssl_context, self.host)  # the name: SNI, certificate


class _CheckedIMAPClient(IMAPClient):
    """IMAPClient connecting only to an address the SSRF rule allows, checked after resolution
    and the one connected to (coldsend.core.netcheck.connect)."""

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _CheckedIMAP4TLS(self.host, self.port, self.ssl_context, timeout)
        return _CheckedIMAP4(self.host, self.port, timeout)


def connect(account: SenderAccount) -> IMAPClient:
    """A logged-in client, at an address the SSRF rule allows."""
    host, port = account.imap_host, account.imap_port or 993
    security = account.imap_security or SenderAccount.Security.SSL
    try:
        implicit = security == SenderAccount.Security.SSL
        client = _CheckedIMAPClient(
            host,
            port=port,
            ssl=implicit,
            ssl_context=tls_context() if implicit else None,
            timeout=settings.IMAP_TIMEOUT_SECONDS,
        )
    except HostRefused as exc:
        raise InboxError(str(exc)) from None
    except ssl.SSLError:
        raise InboxError(f"TLS with {host}:{port} failed.") from None
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        raise InboxError(f"The IMAP server {host}:{port} is unreachable.") from None
    try:
        if security == SenderAccount.Security.STARTTLS:
            client.starttls(tls_context())
        client.login(account.imap_username, account.imap_password)
    except LoginError:
        _close(client)
        raise InboxError("The IMAP server refused the username or password.") from None
    except ssl.SSLError:
        _close(client)
        raise InboxError(f"TLS with {host}:{port} failed.") from None
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        _close(client)
        raise InboxError(f"The IMAP server {host}:{port} did not accept the session.") from None
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        with contextlib.suppress(OSError, IMAPClientError, imaplib.IMAP4.error):
            client.shutdown()


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ours(account: SenderAccount, ids: list[str]) -> services.Sent | None:
    """The latest message of the account's workspace among `ids`."""
    if not ids:
        return None
    pk = (
        Message.objects.filter(
            message_id__in=ids,
            campaign__in=Campaign.objects.for_workspace(account.workspace_id),
            sent_at__isnull=False,
        )
        .order_by("-sent_at")
        .values_list("pk", flat=True)
        .first()
    )
    return services.sent_message(pk) if pk else None


def bounced_message(account: SenderAccount, found: classify.Classified) -> services.Sent | None:
    """The message a bounce is about: named in the report, else the latest one this account
    sent to a failed recipient."""
    message = ours(account, found.message_ids)
    if message is not None or not found.recipients:
        return message
    pk = (
        Message.objects.filter(
            sender_account=account,
            lead__email__in=found.recipients,
            status=Message.Status.SENT,
        )
        .order_by("-sent_at")
        .values_list("pk", flat=True)
        .first()
    )
    return services.sent_message(pk) if pk else None


def mail_key(parsed: EmailMessage, raw: bytes) -> str:
    ids = classify.ids_in(parsed.get("Message-ID"))
    return ids[0][:300] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()


def record(account: SenderAccount, raw: bytes) -> str:
    """Classify one message and record what it says, once per message (by its Message-ID);
    returns its kind, "other" when it names no message of ours, "seen" when already read."""
    parsed = classify.parse(raw)
    with transaction.atomic():
        try:
            with transaction.atomic():
                ReadMail.objects.create(
                    account=account, key=mail_key(parsed, raw), read_at=clock.now()
                )
        except IntegrityError:
            return "seen"
        return _record(account, classify.classify(parsed))


def _record(account: SenderAccount, found: classify.Classified) -> str:
    if found.kind == classify.BOUNCE:
        message = bounced_message(account, found)
        if message is None:
            return classify.OTHER
        services.record_bounce(message, found.status)
        return found.kind
    if found.kind in (classify.AUTO_REPLY, classify.REPLY):
        message = ours(account, found.message_ids)
        if message is None:
            return classify.OTHER
        if found.kind == classify.AUTO_REPLY:
            services.record_auto_reply(message)
        else:
            services.record_reply(message)
    return found.kind


def poll_account(account: SenderAccount) -> dict[str, int]:
    """Read the new messages of the account's inbox; the kinds seen (and how many)."""
    state, _ = InboxState.objects.get_or_create(account=account)
    InboxState.objects.filter(pk=account.pk).update(polled_at=clock.now())
    seen: dict[str, int] = {}
    try:
        client = connect(account)
        try:
            folder = client.select_folder(FOLDER, readonly=True)
            uidvalidity = int(folder[b"UIDVALIDITY"])
            last = state.last_uid if state.uidvalidity == uidvalidity else 0
            if state.uidvalidity != uidvalidity:
                InboxState.objects.filter(pk=account.pk).update(uidvalidity=uidvalidity, last_uid=0)
            uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
            for batch in _batches(uids, FETCH_BATCH):
                fetched = client.fetch(batch, ["BODY.PEEK[]"])
                for uid in batch:
                    raw = fetched.get(uid, {}).get(b"BODY[]")
                    if raw:
                        kind = record(account, raw)
                        seen[kind] = seen.get(kind, 0) + 1
                    InboxState.objects.filter(pk=account.pk).update(last_uid=uid)
        except (OSError, IMAPClientError, imaplib.IMAP4.error, KeyError, ValueError):
            raise InboxError("The IMAP server failed while reading the inbox.") from None
        finally:
            _close(client)
    except InboxError as exc:
        _failed(account, str(exc))
        return seen
    InboxState.objects.filter(pk=account.pk).update(error="")
    SenderAccount.objects.filter(pk=account.pk, last_error__startswith=ERROR_PREFIX).update(
        last_error=""
    )
    return seen


def _failed(account: SenderAccount, error: str) -> None:
    text = (ERROR_PREFIX + error)[:300]
    InboxState.objects.filter(pk=account.pk).update(error=text)
    # The sending status stays: only the inbox failed. An SMTP error already shown wins.
    SenderAccount.objects.filter(pk=account.pk).filter(
        Q(last_error="") | Q(last_error__startswith=ERROR_PREFIX)
    ).update(last_error=text)
    logger.warning("inbox of sender account %s: %s", account.pk, error)


def due_accounts(limit: int = 100) -> list[SenderAccount]:
    """Accounts with an inbox not polled for INBOX_POLL_SECONDS (the longest waiting first),
    each marked as polled now so that one worker takes it."""
    now = clock.now()
    since = now - timedelta(seconds=settings.INBOX_POLL_SECONDS)
    inboxes = SenderAccount.objects.filter(imap_accounts()).exclude(
        status=SenderAccount.Status.DISABLED
    )
    new = inboxes.exclude(pk__in=InboxState.objects.values("account_id"))
    InboxState.objects.bulk_create(
        [InboxState(account_id=pk) for pk in new.values_list("pk", flat=True)[:limit]],
        ignore_conflicts=True,
    )
    due = Q(polled_at__isnull=True) | Q(polled_at__lte=since)
    candidates = (
        InboxState.objects.filter(due, account__in=inboxes)
        .order_by(F("polled_at").asc(nulls_first=True))
        .values_list("pk", flat=True)[:limit]
    )
    taken = [pk for pk in candidates if InboxState.objects.filter(due, pk=pk).update(polled_at=now)]
    return list(SenderAccount.objects.filter(pk__in=taken))


def poll_due_accounts() -> int:
    """Enqueue a poll task for each account whose inbox is due; how many."""
    from inbound.tasks import poll_inbox_task

    accounts = due_accounts()
    for account in accounts:
        poll_inbox_task.enqueue(str(account.pk))
    return len(accounts)
