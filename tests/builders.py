"""Builders shared by every test module (no tests here, and no test module imports another):
URLs, rows made through the ORM, request bodies, the import report, and the contract's scope
table with the schema's operations."""

import datetime as dt
import itertools
import os
import re
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace

API = "/api/public/v1"
IMPORT = f"{API}/leads/import"
_numbers = itertools.count(1)
SMTP_PASSWORD = "s3cret-Smtp-Passw0rd!"


def api_url(path: str) -> str:
    return f"{API}/{path.lstrip('/')}"


def campaign_url(campaign: Campaign | str | None = None, action: str | None = None) -> str:
    if campaign is None:
        return api_url("campaigns")
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return api_url(f"campaigns/{pk}/{action}" if action else f"campaigns/{pk}")


def make_sender(ws: Workspace, **fields: Any) -> SenderAccount:
    """A NATIVE sender account (unless `type` says otherwise) with a fresh email."""
    fields.setdefault("type", SenderAccount.Type.NATIVE)
    fields.setdefault("email", f"sender{next(_numbers)}@example.com")
    return SenderAccount.objects.create(workspace=ws, **fields)


def make_smtp_account(ws: Workspace, password: str = SMTP_PASSWORD, **fields: Any) -> SenderAccount:
    return make_sender(
        ws,
        **{
            "type": SenderAccount.Type.SMTP,
            "smtp_host": "smtp.example.com",
            "smtp_port": 587,
            "smtp_username": "user",
            "smtp_password": password,
            "smtp_security": SenderAccount.Security.STARTTLS,
            **fields,
        },
    )


def make_campaign(
    ws: Workspace,
    status: str = Campaign.Status.DRAFT,
    senders: int = 1,
    steps: int = 1,
    **fields: Any,
) -> Campaign:
    campaign = Campaign.objects.create(
        workspace=ws, name=fields.pop("name", f"Campaign {next(_numbers)}"), status=status, **fields
    )
    campaign.sender_accounts.set([make_sender(ws) for _ in range(senders)])
    CampaignStep.objects.bulk_create(
        CampaignStep(campaign=campaign, position=i, subject=f"S{i}", body=f"B{i}")
        for i in range(1, steps + 1)
    )
    return campaign


def campaign_using(
    ws: Workspace, *accounts: SenderAccount, status: str = Campaign.Status.DRAFT
) -> Campaign:
    """A campaign (no steps) using exactly `accounts`."""
    campaign = Campaign.objects.create(workspace=ws, name="Outreach", status=status)
    campaign.sender_accounts.set(accounts)
    return campaign


def make_lead(
    campaign: Campaign,
    status: str = Lead.Status.PENDING,
    *,
    email: str | None = None,
    **fields: Any,
) -> Lead:
    return Lead.objects.create(
        workspace_id=campaign.workspace_id,
        campaign=campaign,
        email=email or f"lead{next(_numbers)}@example.com",
        status=status,
        **fields,
    )


def make_events(
    campaign: Campaign, lead: Lead, type_: str, count: int = 1, at: dt.datetime | None = None
) -> None:
    at = at or dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
    EmailEvent.objects.bulk_create(
        EmailEvent(campaign=campaign, lead=lead, type=type_, occurred_at=at) for _ in range(count)
    )


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Spring outreach",
        "daily_limit": 120,
        "schedule": {
            "timezone": "Europe/Berlin",
            "days": [1, 2, 3],
            "start_time": "08:30",
            "end_time": "16:45",
        },
        "steps": [
            {"subject": "Hello", "body": "First email", "delay_days": 0},
            {"subject": "Following up", "body": "Second email", "delay_days": 3},
        ],
        "stop_on_reply": False,
    }
    body.update(overrides)
    return body


def stored(campaign: Campaign) -> dict[str, Any]:
    """Everything the API lets a client change, as stored."""
    campaign = Campaign.objects.get(pk=campaign.pk)
    return {
        "name": campaign.name,
        "status": campaign.status,
        "daily_limit": campaign.daily_limit,
        "schedule": campaign.schedule,
        "stop_on_reply": campaign.stop_on_reply,
        "sender_account_ids": sorted(
            str(pk) for pk in campaign.sender_accounts.values_list("pk", flat=True)
        ),
        "steps": list(
            campaign.steps.order_by("position").values("position", "subject", "body", "delay_days")
        ),
        "updated_at": campaign.updated_at,
    }


# The import report (API.md §6) and uploads


def error(row: int, email: str, message: str) -> dict:
    return {"row": row, "email": email, "error": message}


def report(created: int = 0, duplicates: int = 0, invalid: int = 0, errors: tuple = ()) -> dict:
    return {
        "created": created,
        "duplicates": duplicates,
        "invalid": invalid,
        "errors": list(errors),
    }


def upload(client: APIClient, campaign_id: object, data: bytes, name: str = "leads.csv"):
    return client.post(
        IMPORT,
        {"campaign_id": str(campaign_id), "file": SimpleUploadedFile(name, data, "text/csv")},
        format="multipart",
    )


def stored_leads(campaign: Campaign) -> dict[str, Lead]:
    return {lead.email: lead for lead in Lead.objects.filter(campaign=campaign)}


# Scopes

# The contract's table (API.md §2), written out by hand on purpose.
CONTRACT_SCOPES = {
    "campaigns:create",
    "campaigns:read",
    "campaigns:update",
    "campaigns:delete",
    "campaigns:pause",
    "campaigns:activate",
    "campaigns:all",
    "sender_accounts:create",
    "sender_accounts:read",
    "sender_accounts:delete",
    "sender_accounts:all",
    "leads:create",
    "leads:read",
    "leads:delete",
    "leads:all",
    "*",
}
ACTION_SCOPES = {s for s in CONTRACT_SCOPES if s != "*" and not s.endswith(":all")}


SCOPE_NOTE = re.compile(r"Required scope: `([a-z_]+:[a-z_]+)`\.")
SKIPPED_PATHS = {"/api/public/v1/schema", "/api/public/v1/docs"}


def scoped_operations() -> list[tuple[str, str, str]]:
    """(method, path with ids filled in, required scope) for every operation of the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        if path.rstrip("/") in SKIPPED_PATHS:
            continue
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for method, operation in methods.items():
            description = operation.get("description", "")
            if "Required scope: none (any valid API key)." in description:
                continue
            match = SCOPE_NOTE.search(description)
            operations.append((method, url, match.group(1) if match else ""))
    return operations


class References(HTMLParser):
    """Every URL a page makes the browser load: src, link href, and Redoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "img": "src", "link": "href", "redoc": "spec-url"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def referenced_urls(page_url: str, html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    # Swagger UI's inline script names the schema it fetches.
    parser.urls += re.findall(r'\burl: "([^"]+)"', html)
    return [urljoin(page_url, url) for url in parser.urls]


def schedule_fields(schedule: dict) -> dict:
    """A schedule as the admin's schedule inputs post it."""
    return {f"schedule_{part}": value for part, value in schedule.items()}


def campaign_form(campaign: Campaign, **changes) -> dict:
    """The change form as the admin would post it back untouched, with `changes` applied
    (`delete_steps`: the positions whose DELETE box is ticked)."""
    steps = list(campaign.steps.order_by("position"))
    delete = set(changes.pop("delete_steps", ()))
    data = {
        "name": campaign.name,
        "workspace": str(campaign.workspace_id),
        "sender_accounts": [
            str(pk) for pk in campaign.sender_accounts.values_list("pk", flat=True)
        ],
        "daily_limit": str(campaign.daily_limit),
        **schedule_fields(campaign.schedule),
        "stop_on_reply": "on" if campaign.stop_on_reply else "",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for i, step in enumerate(steps):
        data.update(
            {
                f"steps-{i}-id": str(step.pk),
                f"steps-{i}-campaign": str(campaign.pk),
                f"steps-{i}-position": str(step.position),
                f"steps-{i}-subject": step.subject,
                f"steps-{i}-body": step.body,
                f"steps-{i}-delay_days": str(step.delay_days),
            }
        )
        if step.position in delete:
            data[f"steps-{i}-DELETE"] = "on"
    data.update(changes)
    return data


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "k3v!q9x#T2m@Lr8pZ0w$Yb6nC4dF1gH7jJ5sA-uE_oI&iU+eR=tW*yQ^pO%aS(dD)",
    "FIELD_ENCRYPTION_KEYS": "m2sR2cTgrqGJm4rK9Z7mBv3f0Ok3d6xq1Kz8vYy8aHc=",
    "ALLOWED_HOSTS": "api.coldsend.example",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "DATABASE_URL": "sqlite:////tmp/coldsend-deploy-check.sqlite3",
}


KEY_ADD_URL = "/admin/apikeys/apikey/add/"


def filled_add_form(client: Client, workspace, scopes: list[str], button: str = "_save") -> dict:
    """The add form as the admin renders it (its hidden one-time token included), filled in."""
    html = client.get(KEY_ADD_URL).content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', html)
    assert token, "the add form carries a one-time token"
    return {
        "name": "Admin key",
        "workspace": str(workspace.pk),
        "scopes": scopes,
        "expires_at_0": "",
        "expires_at_1": "",
        "form_token": token.group(1),
        button: "Save",
    }


def create_api_key_process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`manage.py create_api_key ARGS` in a real process, on a throwaway SQLite file (never the
    developer's database), with test secrets only."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": "subprocess-test-secret",
        "FIELD_ENCRYPTION_KEYS": settings.FIELD_ENCRYPTION_KEYS[0],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "create_api_key", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
