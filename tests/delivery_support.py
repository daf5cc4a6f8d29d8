"""What the delivery tests share: a real SMTP server on loopback (aiosmtpd) that can accept,
refuse a recipient (550), defer (451), drop the connection, refuse AUTH (535) and records the
bytes it receives; engine settings shrunk for tests; helpers that set campaigns up through
the HTTP API and drive the engine in-process."""

import asyncio
import email
import email.policy
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.db import connections
from rest_framework.test import APIClient

from coldsend.management.commands.run_worker import worker_round
from sender_accounts.models import SenderAccount
from tests.urls import api_url

USERNAME, PASSWORD = "mailer", "s3cret-smtp-pass"
ALWAYS = {
    "timezone": "UTC",
    "days": [1, 2, 3, 4, 5, 6, 7],
    "start_time": "00:00",
    "end_time": "23:59",
}
# A Wednesday, noon UTC: inside ALWAYS and the default Mon-Fri 09:00-17:00 window.
WEDNESDAY_NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def body(self) -> str:
        """The text, with line ends as the sender wrote them (SMTP carries CRLF)."""
        return self.message.get_content().replace("\r\n", "\n")


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)  # 550 at RCPT
    defer: set[str] = field(default_factory=set)  # 451 at RCPT
    drop: set[str] = field(default_factory=set)  # connection closed at DATA
    refuse_auth: bool = False
    # Scripted answers: MAIL FROM for every message, RCPT TO and the end of DATA by recipient.
    mail_answer: str | None = None
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    data_answers: dict[str, str] = field(default_factory=dict)
    data_delay: float = 0.0  # seconds the server takes to answer DATA, as real servers do
    login_attempts: int = 0
    greetings: int = 0  # EHLOs: a client that never got this far never connected
    # Called (in the server's thread) when MAIL FROM / RCPT TO arrives, before the answer.
    on_mail: Any = None
    on_rcpt: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.on_mail is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_mail, address)
        if self.mail_answer is not None:
            return self.mail_answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_rcpt, address)
        if address in self.rcpt_answers:
            return self.rcpt_answers[address]
        if address in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if address in self.defer:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if set(envelope.rcpt_tos) & self.drop:
            server.transport.abort()
            return "421 closing"
        for address in envelope.rcpt_tos:
            if address in self.data_answers:
                return self.data_answers[address]
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.login_attempts += 1
        ok = (
            not self.refuse_auth
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USERNAME
            and auth_data.password.decode() == PASSWORD
        )
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself

    def bodies(self, address: str) -> list[str]:
        return [r.body for r in self.to(address)]

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self) -> None:
        self.handler = Handler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.handler.authenticate,
            auth_require_tls=False,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handler, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "handler" and hasattr(self, "handler") and hasattr(self.handler, name):
            setattr(self.handler, name, value)
        else:
            super().__setattr__(name, value)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def delivery_settings(settings):
    settings.SMTP_ALLOW_PRIVATE_HOSTS = True
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "webhooks"],
        }
    }
    settings.SMTP_TIMEOUT_SECONDS = 5
    settings.SEND_BATCH_SIZE = 50
    # In-process engine runs see the test's own transaction only from its connection: one lane.
    # Several lanes (each with its own connection) are tested on committed data.
    settings.SEND_CONNECTIONS = 1
    settings.SEND_RETRY_BACKOFF_SECONDS = 600
    settings.SEND_MAX_ATTEMPTS = 4
    settings.ACCOUNT_RECHECK_SECONDS = 300
    settings.SEND_CLAIM_LEASE_SECONDS = 300
    settings.PUBLIC_BASE_URL = "https://cold.example.com"
    return settings


@pytest.fixture
def clock() -> Iterator[Any]:
    """Time stands still at WEDNESDAY_NOON until a test moves it."""
    with time_machine.travel(WEDNESDAY_NOON, tick=False) as traveller:
        yield traveller


# Setting up through the API


def create_account(client, sink: Sink, *, gap: int | None = 0, **fields: Any) -> str:
    body = {
        "type": "SMTP",
        "email": fields.pop("email", "alice@sender.example"),
        "display_name": fields.pop("display_name", "Alice Sender"),
        "daily_limit": fields.pop("daily_limit", 1000),
        "smtp": {
            "host": fields.pop("host", "127.0.0.1"),
            "port": fields.pop("port", sink.port if sink else 25),
            "username": fields.pop("username", USERNAME),
            "password": fields.pop("password", PASSWORD),
            "security": "NONE",
        },
    }
    response = client.post(api_url("sender_accounts"), body, format="json")
    assert response.status_code == 201, response.content
    account_id = response.json()["id"]
    if gap is not None:  # not yet writable through the API
        SenderAccount.objects.filter(pk=account_id).update(
            min_interval_seconds=gap, max_interval_seconds=gap
        )
    return account_id


def create_campaign(
    client,
    account_ids: list[str],
    steps: list[dict] | None = None,
    schedule: dict | None = None,
    **fields: Any,
) -> str:
    body = {
        "name": fields.pop("name", "Outreach"),
        "sender_account_ids": account_ids,
        "schedule": schedule or ALWAYS,
        "steps": steps
        or [{"subject": "Hello {{first_name|there}}", "body": "Hi!", "delay_days": 0}],
        "daily_limit": fields.pop("daily_limit", 1000),
        **fields,
    }
    response = client.post(api_url("campaigns"), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def add_leads(client, campaign_id: str, leads: list[dict]) -> None:
    response = client.post(
        api_url("leads/import"), {"campaign_id": campaign_id, "leads": leads}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == len(leads), response.json()


def add_lead(client, campaign_id: str, email_address: str, **fields: Any) -> str:
    response = client.post(
        api_url("leads"),
        {"campaign_id": campaign_id, "email": email_address, **fields},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def activate(client, campaign_id: str) -> dict:
    response = client.post(api_url(f"campaigns/{campaign_id}/activate"))
    assert response.status_code == 200, response.content
    return response.json()


def pause(client, campaign_id: str) -> dict:
    response = client.post(api_url(f"campaigns/{campaign_id}/pause"))
    assert response.status_code == 200, response.content
    return response.json()


def campaign(client, campaign_id: str) -> dict:
    response = client.get(api_url(f"campaigns/{campaign_id}"))
    assert response.status_code == 200, response.content
    return response.json()


def leads_of(client, campaign_id: str) -> dict[str, dict]:
    """email → the lead as the API shows it."""
    found, url = {}, api_url(f"leads?campaign_id={campaign_id}&limit=100")
    while url:
        body = client.get(url).json()
        found.update({lead["email"]: lead for lead in body["results"]})
        url = body["next"]
    return found


def run_engine(rounds: int = 100) -> int:
    """Run the engine in-process until a round claims nothing; the number claimed."""
    total = 0
    for _ in range(rounds):
        claimed = worker_round()
        if not claimed:
            return total
        total += claimed
    return total


class Pauser:
    """Pauses a campaign through the API from another thread (another client, its own database
    connection) once `start` is called; `answered` is when the answer came (monotonic ns)."""

    def __init__(self, client, campaign_id: str) -> None:
        self.raw_key = client._credentials["HTTP_X_API_KEY"]
        self.campaign_id = campaign_id
        self.answered: int | None = None
        self.status: int | None = None
        self.thread = threading.Thread(target=self._pause)

    def _pause(self) -> None:
        other = APIClient()
        other.credentials(HTTP_X_API_KEY=self.raw_key)
        try:
            response = other.post(api_url(f"campaigns/{self.campaign_id}/pause"))
            self.answered, self.status = time.monotonic_ns(), response.status_code
        finally:
            connections.close_all()  # this thread's connection

    def start(self) -> None:
        self.thread.start()

    def started(self) -> bool:
        return self.thread.is_alive() or self.answered is not None

    def join(self) -> bool:
        """True once the pause has answered 200."""
        self.thread.join(timeout=30)
        return self.status == 200


REBINDING_HOST = "rebind.example"


def rebind_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding for REBINDING_HOST: its lookups answer a public address, then loopback
    (where the test servers listen), in turn, so the SSRF check sees a public address and a
    second lookup would lead to this machine. Other names resolve as usual."""
    answers = itertools.cycle(["93.184.215.14", "127.0.0.1"])
    lookup = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> list:
        return lookup(next(answers) if host == REBINDING_HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
