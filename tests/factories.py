"""Rows made through the ORM (senders, campaigns, leads, events) and how they read back."""

import datetime as dt
import itertools
from typing import Any

from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from workspaces.models import Workspace

_numbers = itertools.count(1)
SMTP_PASSWORD = "s3cret-Smtp-Passw0rd!"


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


def stored_leads(campaign: Campaign) -> dict[str, Lead]:
    return {lead.email: lead for lead in Lead.objects.filter(campaign=campaign)}
