"""What the engagement tests share: a campaign sent through the real engine to the aiosmtpd
sink, the links found in what was received, and reads through the API."""

import re
from typing import Any

import pytest

from campaigns.models import Campaign
from tests.delivery_support import (
    activate,
    add_lead,
    api_url,
    create_account,
    create_campaign,
    run_engine,
)


@pytest.fixture(autouse=True)
def opens_written_at_once(settings):
    """Each open is written in its request (tests/test_tracking_batches.py covers batches)."""
    settings.TRACKING_FLUSH_SECONDS = 0


LINK = re.compile(r"https?://cold\.example\.com/[ocu]/[^\s\"<>]+")


def send_campaign(
    client,
    sink,
    *,
    emails: tuple[str, ...] = ("ann@example.com",),
    tracking: dict | None = None,
    steps: list[dict] | None = None,
    account_id: str | None = None,
    **fields: Any,
) -> str:
    """A campaign with `tracking`, its leads, activated, step 1 sent to each lead."""
    account_id = account_id or create_account(client, sink)
    campaign_id = create_campaign(client, [account_id], steps, **fields)
    if tracking is not None:  # not yet writable through the API on this branch
        Campaign.objects.filter(pk=campaign_id).update(tracking=tracking)
    for address in emails:
        add_lead(client, campaign_id, address, first_name="Ann")
    activate(client, campaign_id)
    run_engine()
    return campaign_id


def parts(received) -> dict[str, str]:
    """content type → decoded text of each text part of a received message."""
    return {
        part.get_content_type(): part.get_content()
        for part in received.message.walk()
        if part.get_content_maintype() == "text"
    }


def links_in(text: str, kind: str) -> list[str]:
    """The public links of `kind` (o, c or u) in `text`, as paths."""
    return [
        url.removeprefix("https://cold.example.com").rstrip(".,;:!?)")
        for url in LINK.findall(text)
        if url.startswith(f"https://cold.example.com/{kind}/")
    ]


def lead_of(client, campaign_id: str, address: str) -> dict:
    url = api_url(f"leads?campaign_id={campaign_id}&limit=100")
    found = [lead for lead in client.get(url).json()["results"] if lead["email"] == address]
    assert found, address
    return found[0]


def stats_of(client, campaign_id: str) -> dict:
    response = client.get(api_url(f"campaigns/{campaign_id}"))
    assert response.status_code == 200, response.content
    return response.json()["stats"]


def events_of(campaign_id: str, type_: str) -> int:
    from inbound.events import EmailEvent

    return EmailEvent.objects.filter(campaign_id=campaign_id, type=type_).count()
