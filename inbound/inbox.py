"""Reading the inboxes of sender accounts (API.md §8): every INBOX_POLL_SECONDS, each SMTP
account with `imap` settings is read from where the last poll stopped (UIDVALIDITY + last UID),
read-only (SELECT with EXAMINE, BODY.PEEK: no flag set, nothing moved or deleted), and each new
message is classified (tracking/classify.py) and recorded against the message of ours it names,
only ever within the account's workspace.

Someone else's server, so guarded (API.md §8): each poll has a total deadline
(INBOX_POLL_DEADLINE_SECONDS: a timer shuts the socket down, however slowly the server drips);
`RFC822.SIZE` is fetched first and a message over INBOX_MAX_MESSAGE_BYTES is classified from
its headers alone; no literal over that bound is ever read into memory; each message is read
and recorded in its own `try`: one that cannot be (undecodable, MIME nested too deep, a
classifier error) is logged, counted in `skipped`, and passed over.

An IMAP failure changes nothing but `last_error`: the same messages are read next round."""

import contextlib
import hashlib
import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message as EmailMessage

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS, wrap_socket

from campaigns.models import Campaign
from coldsend.core import clock, netcheck
from coldsend.core.deadline import Deadline
from coldsend.core.netcheck import HostRefused
from delivery.models import Answer, InboundMessage, Message
from inbound import classify, services, texts
from inbound.models import InboxState, ReadMail
from leads.models import Lead
from sender_accounts.models import SenderAccount

logger = logging.getLogger("inbound")

FOLDER = "INBOX"
FETCH_BATCH = 50
ERROR_PREFIX = "IMAP: "
# Room over the message bound for the protocol's own literals (headers of a huge message).
LITERAL_MARGIN = 64 * 1024


class InboxError(Exception):
    """The inbox could not be read: a short, secret-free text for `last_error`."""


class LiteralTooLarge(OSError):
    """The server sent a literal over the bound: the session cannot go on (its bytes are
    unread), the message is passed over."""


def max_literal() -> int:
    return settings.INBOX_MAX_MESSAGE_BYTES + LITERAL_MARGIN


class _BoundedReads:
    """For imaplib's IMAP4 classes: a literal is read only when its announced size is within
    the bound (imaplib would read any size it is told into memory)."""

    def read(self, size: int) -> bytes:
        if size > max_literal():
            raise LiteralTooLarge(f"a literal of {size:,} bytes")
        return super().read(size)


def imap_accounts() -> "Q":
    return Q(type=SenderAccount.Type.SMTP) & ~Q(imap_host="")


def tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.IMAP_TLS_CA_FILE:  # e.g. the test server's own certificate
        context.load_verify_locations(settings.IMAP_TLS_CA_FILE)
    return context


def _checked_socket(host: str, port: int, timeout: float, deadline: Deadline) -> socket.socket:
    sock = netcheck.connect(host, port, min(timeout, deadline.remaining()))
    deadline.watch(sock)
    return sock


class _CheckedIMAP4(_BoundedReads, IMAP4WithTimeout):
    deadline: Deadline

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        timeout = self._timeout if timeout is None else timeout
        return _checked_socket(self.host, self.port, timeout, self.deadline)


class _CheckedIMAP4TLS(_BoundedReads, IMAP4_TLS):
    deadline: Deadline

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        timeout = self._timeout if timeout is None else timeout
        sock = _checked_socket(self.host, self.port, timeout, self.deadline)
        return wrap_socket(sock, self.ssl_context, self.host)  # the name: SNI, certificate


class _CheckedIMAPClient(IMAPClient):
    """IMAPClient connecting only to an address the SSRF rule allows, checked after resolution
    and the one connected to (coldsend.core.netcheck.connect), its socket under the poll's
    deadline and its literals bounded."""

    def __init__(self, *args: object, deadline: Deadline, **kwargs: object) -> None:
        self.deadline = deadline
        super().__init__(*args, **kwargs)
        self.normalise_times = False  # INTERNALDATE with its zone, not as local time

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = getattr(self._timeout, "connect", None)
        kind = _CheckedIMAP4TLS if self.ssl else _CheckedIMAP4
        imap = kind.__new__(kind)
        imap.deadline = self.deadline  # imaplib connects in __init__: set before it runs
        if self.ssl:
            imap.__init__(self.host, self.port, self.ssl_context, timeout)
        else:
            imap.__init__(self.host, self.port, timeout)
        return imap


def connect(account: SenderAccount, deadline: Deadline) -> IMAPClient:
    """A logged-in client, at an address the SSRF rule allows, its socket under `deadline`."""
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
            deadline=deadline,
        )
    except HostRefused as exc:
        raise InboxError(str(exc)) from None
    except ssl.SSLError:
        raise _too_slow(deadline) or InboxError(f"TLS with {host}:{port} failed.") from None
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        unreachable = InboxError(f"The IMAP server {host}:{port} is unreachable.")
        raise _too_slow(deadline) or unreachable from None
    try:
        if security == SenderAccount.Security.STARTTLS:
            client.starttls(tls_context())
            deadline.watch(client._imap.sock)  # the TLS socket took the plain one's place
        client.login(account.imap_username, account.imap_password)
    except LoginError:
        _close(client)
        raise InboxError("The IMAP server refused the username or password.") from None
    except ssl.SSLError:
        _close(client)
        raise _too_slow(deadline) or InboxError(f"TLS with {host}:{port} failed.") from None
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        _close(client)
        refused = InboxError(f"The IMAP server {host}:{port} did not accept the session.")
        raise _too_slow(deadline) or refused from None
    return client


def _too_slow(deadline: Deadline) -> InboxError | None:
    """The error to give when the poll's deadline cut the session off."""
    if not deadline.expired:
        return None
    return InboxError(f"Reading the inbox took over {deadline.seconds:g} seconds.")


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
    """The latest message of the account's workspace among `ids`; an answer of ours (API.md
    §11) named alone stands for its lead's latest step sent."""
    if not ids:
        return None
    campaigns = Campaign.objects.for_workspace(account.workspace_id)
    sent = Message.objects.filter(campaign__in=campaigns, sent_at__isnull=False)
    pk = sent.filter(message_id__in=ids).order_by("-sent_at").values_list("pk", flat=True).first()
    if pk is None:
        lead = (
            Answer.objects.filter(
                message_id__in=ids, sent_at__isnull=False, lead__campaign__in=campaigns
            )
            .order_by("-sent_at")
            .values_list("lead_id", flat=True)
            .first()
        )
        if lead is not None:
            pk = sent.filter(lead_id=lead).order_by("-sent_at").values_list("pk", flat=True).first()
    return services.sent_message(pk) if pk else None


Kept = InboundMessage.Kind

# A report naming only an address applies to what this account sent that address lately.
REPORT_LOOKBACK = timedelta(days=14)


def _latest_sent_to(account: SenderAccount, address: str) -> services.Sent | None:
    """The message this account sent to `address` most recently, in the last 14 days."""
    pk = (
        Message.objects.filter(
            sender_account=account,
            lead__email=address,
            status=Message.Status.SENT,
            sent_at__gte=clock.now() - REPORT_LOOKBACK,
        )
        .order_by("-sent_at")
        .values_list("pk", flat=True)
        .first()
    )
    return services.sent_message(pk) if pk else None


def _record_report(
    account: SenderAccount, found: classify.Classified, parsed: EmailMessage, arrived: datetime
) -> str:
    """A bounce report counts only for a message of ours (API.md §8): one it names by
    Message-ID (its failed address must be that lead's, and a hard bounce suppresses it); a
    report naming no Message-ID at all applies to the latest message this account sent to a
    failed address in the last 14 days (suppressing nothing: anyone can send a report naming
    an address); one naming only other messages (another workspace's, the mailbox owner's own
    mail) counts nowhere."""
    named = ours(account, found.message_ids)
    if named is not None:
        email = Lead.objects.filter(pk=named.lead_id).values_list("email", flat=True).first()
        failure = next((f for f in found.failures if f.address == email), None)
        if failure is None:  # the lead's mailbox forwarded to a dead one: nothing of ours
            logger.info("bounce report for message %s names another address", named.pk)
            return classify.OTHER
        if services.record_report(named, failure, suppress=True):
            services.keep_inbound(named, Kept.BOUNCE, parsed, account, arrived)
        return found.kind
    if found.message_ids:  # it names messages, none of them ours (or another workspace's)
        return classify.OTHER
    recorded = False
    for failure in found.failures:
        message = _latest_sent_to(account, failure.address)
        if message is not None and services.record_report(message, failure, suppress=False):
            services.keep_inbound(message, Kept.BOUNCE, parsed, account, arrived)
            recorded = True
    return found.kind if recorded else classify.OTHER


def mail_key(parsed: EmailMessage, raw: bytes) -> str:
    ids = classify.ids_in(parsed.get("Message-ID"))
    return ids[0][:300] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()


def record(account: SenderAccount, raw: bytes, arrived: datetime | None = None) -> str:
    """Classify one message and record what it says, once per message (by its Message-ID);
    returns its kind, "other" when it names no message of ours, "seen" when already read.
    `arrived`: when the IMAP server received it (else now)."""
    parsed = classify.parse(raw)
    with transaction.atomic():
        try:
            with transaction.atomic():
                ReadMail.objects.create(
                    account=account, key=mail_key(parsed, raw), read_at=clock.now()
                )
        except IntegrityError:
            return "seen"
        return _record(account, classify.classify(parsed), parsed, arrived or clock.now())


def _record(
    account: SenderAccount, found: classify.Classified, parsed: EmailMessage, arrived: datetime
) -> str:
    if found.kind == classify.BOUNCE:
        return _record_report(account, found, parsed, arrived)
    if found.kind in (classify.AUTO_REPLY, classify.REPLY):
        message = ours(account, found.message_ids)
        if message is None:
            return classify.OTHER
        kind = Kept.AUTO_REPLY if found.kind == classify.AUTO_REPLY else Kept.REPLY
        kept = services.keep_inbound(message, kind, parsed, account, arrived)
        reply = {**texts.reply_data(parsed, arrived), "message": kept.pk}
        if found.kind == classify.AUTO_REPLY:
            services.record_auto_reply(message, reply)
        else:
            services.record_reply(message, reply)
    return found.kind


class Skipped(Exception):
    """One message that cannot be read or recorded: passed over, counted, logged."""


def read_one(account: SenderAccount, uid: int, raw: bytes, arrived: datetime | None = None) -> str:
    """Record one message in its own `try`: anything wrong with it (MIME nested deeper than
    classify.MAX_DEPTH, undecodable headers, a classifier error) is a Skipped, never an error that
    stops the poll. A database error is not the message's fault: it stops the poll, and the
    message is read again next round."""
    try:
        return record(account, raw, arrived)
    except DatabaseError:
        raise
    except Exception as exc:
        raise Skipped(f"UID {uid}: {type(exc).__name__}") from exc


def poll_account(account: SenderAccount) -> dict[str, int]:
    """Read the new messages of the account's inbox, within INBOX_POLL_DEADLINE_SECONDS; the
    kinds seen (and how many)."""
    state, _ = InboxState.objects.get_or_create(account=account)
    InboxState.objects.filter(pk=account.pk).update(polled_at=clock.now())
    try:
        return _poll(account, state)
    finally:
        InboxState.objects.filter(pk=account.pk).update(busy_until=None)


def _poll(account: SenderAccount, state: InboxState) -> dict[str, int]:
    seen: dict[str, int] = {}
    with Deadline(settings.INBOX_POLL_DEADLINE_SECONDS) as deadline:
        try:
            client = connect(account, deadline)
            try:
                _read_new(account, state, client, seen)
            except LiteralTooLarge:
                # The literal's bytes are still coming: no LOGOUT can be read after them.
                with contextlib.suppress(OSError, IMAPClientError, imaplib.IMAP4.error):
                    client.shutdown()
                raise InboxError("The IMAP server sent a message over the size limit.") from None
            except (OSError, IMAPClientError, imaplib.IMAP4.error, KeyError, ValueError):
                failed = InboxError("The IMAP server failed while reading the inbox.")
                raise _too_slow(deadline) or failed from None
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


def _read_new(
    account: SenderAccount, state: InboxState, client: IMAPClient, seen: dict[str, int]
) -> None:
    folder = client.select_folder(FOLDER, readonly=True)
    uidvalidity = int(folder[b"UIDVALIDITY"])
    last = state.last_uid if state.uidvalidity == uidvalidity else 0
    if state.uidvalidity != uidvalidity:
        InboxState.objects.filter(pk=account.pk).update(uidvalidity=uidvalidity, last_uid=0)
    uids = sorted(uid for uid in client.search(["UID", f"{last + 1}:*"]) if uid > last)
    for batch in _batches(uids, FETCH_BATCH):
        sizes = client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"])
        for uid in batch:
            facts = sizes.get(uid, {})
            arrived = facts.get(b"INTERNALDATE")
            kind = _fetch_and_read(
                account, client, uid, facts.get(b"RFC822.SIZE"), _arrival(arrived)
            )
            if kind is not None:
                seen[kind] = seen.get(kind, 0) + 1
            InboxState.objects.filter(pk=account.pk).update(last_uid=uid)


def _arrival(value: object) -> datetime | None:
    """The IMAP arrival time (INTERNALDATE), never later than now (it is read now)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return min(value, clock.now())


def _fetch_and_read(
    account: SenderAccount,
    client: IMAPClient,
    uid: int,
    size: int | None,
    arrived: datetime | None = None,
) -> str | None:
    """One message: whole when within INBOX_MAX_MESSAGE_BYTES, else its headers alone (a reply
    with a large attachment still counts). Its kind, or None when there was nothing to read or
    it was skipped."""
    whole = size is not None and size <= settings.INBOX_MAX_MESSAGE_BYTES
    part, key = (b"BODY.PEEK[]", b"BODY[]") if whole else (b"BODY.PEEK[HEADER]", b"BODY[HEADER]")
    try:
        raw = client.fetch([uid], [part]).get(uid, {}).get(key)
    except LiteralTooLarge:
        # The session cannot go on (the literal's bytes are unread): this message is passed
        # over, the next poll starts after it.
        _skipped(account, f"UID {uid}: a literal over the size limit")
        InboxState.objects.filter(pk=account.pk).update(last_uid=uid)
        raise
    if not raw:
        return None
    try:
        return read_one(account, uid, raw, arrived)
    except Skipped as skipped:
        _skipped(account, str(skipped), skipped.__cause__)
        return None


def _skipped(account: SenderAccount, why: str, cause: BaseException | None = None) -> None:
    InboxState.objects.filter(pk=account.pk).update(skipped=F("skipped") + 1)
    logger.warning(
        "inbox of sender account %s: message skipped (%s)", account.pk, why, exc_info=cause
    )


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
    due = (Q(polled_at__isnull=True) | Q(polled_at__lte=since)) & (
        Q(busy_until__isnull=True) | Q(busy_until__lte=now)
    )
    candidates = (
        InboxState.objects.filter(due, account__in=inboxes)
        .order_by(F("polled_at").asc(nulls_first=True))
        .values_list("pk", flat=True)[:limit]
    )
    busy_until = now + timedelta(seconds=settings.INBOX_POLL_DEADLINE_SECONDS + 60)
    taken = [
        pk
        for pk in candidates
        if InboxState.objects.filter(due, pk=pk).update(polled_at=now, busy_until=busy_until)
    ]
    return list(SenderAccount.objects.filter(pk__in=taken))


def poll_due_accounts() -> int:
    """Enqueue a poll task for each account whose inbox is due; how many."""
    from inbound.tasks import poll_inbox_task

    accounts = due_accounts()
    for account in accounts:
        poll_inbox_task.enqueue(str(account.pk))
    return len(accounts)
