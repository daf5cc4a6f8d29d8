"""Builders shared by the campaign tests (no tests here): rows made through the ORM, and the
request bodies and URLs the tests send."""

import datetime as dt
import itertools
from typing import Any

from apikeys.models import Workspace
from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.conftest import api_url

_numbers = itertools.count(1)


def campaign_url(campaign: Campaign | str | None = None, action: str | None = None) -> str:
    if campaign is None:
        return api_url("campaigns")
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    return api_url(f"campaigns/{pk}/{action}" if action else f"campaigns/{pk}")


def make_sender(ws: Workspace) -> SenderAccount:
    return SenderAccount.objects.create(
        workspace=ws, type=SenderAccount.Type.NATIVE, email=f"sender{next(_numbers)}@example.com"
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


def make_lead(campaign: Campaign, status: str = Lead.Status.PENDING) -> Lead:
    return Lead.objects.create(
        workspace_id=campaign.workspace_id,
        campaign=campaign,
        email=f"lead{next(_numbers)}@example.com",
        status=status,
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
