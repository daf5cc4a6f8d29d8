"""Builders shared by every test module (no tests here, and no test module imports another):
URLs, rows made through the ORM, request bodies, the import report, and the contract's scope
table with the schema's operations."""

import datetime as dt
import itertools
import re
import uuid
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.models import Workspace
from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount

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
