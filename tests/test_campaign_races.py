"""Racing transitions with real threads, each with its own database connection: two requests
never both win, and no interleaving leaves an invalid stored state (API.md §5)."""

import logging
import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignStep
from engagement.models import EmailEvent
from leads.models import Lead
from tests.factories import make_campaign, make_events, make_lead
from tests.urls import api_url, campaign_url

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16


def race(raw_key: str, requests: list[tuple[str, str]]) -> list[tuple[str, int, dict | None]]:
    """Send every (method, url) at once, one thread and connection each; return
    (method and url, status, body) in the order given."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def send(i: int, method: str, url: str) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_X_API_KEY=raw_key)
            barrier.wait(timeout=30)
            response = getattr(client, method)(url)
            body = response.json() if response.content else None
            results[i] = (f"{method} {url}", response.status_code, body)
        except Exception as exc:  # reported by the assertion below
            results[i] = (f"{method} {url}", None, repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=(i, method, url))
        for i, (method, url) in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None and r[1] is not None for r in results), results
    return results


def action_request(campaign: Campaign, action: str) -> tuple[str, str]:
    if action == "delete":
        return "delete", campaign_url(campaign)
    return "post", campaign_url(campaign, action)


@pytest.fixture
def raw_key(make_key) -> str:
    return make_key(["*"])[1]


def test_concurrent_deletes_exactly_one_wins(raw_key, workspace):
    campaign = make_campaign(workspace, status="PAUSED", steps=3)
    for _ in range(5):
        make_events(campaign, make_lead(campaign), "SENT")

    results = race(raw_key, [action_request(campaign, "delete")] * THREADS)

    codes = Counter(status for _, status, _ in results)
    assert codes == {204: 1, 404: THREADS - 1}, results
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not CampaignStep.objects.filter(campaign_id=campaign.pk).exists()
    assert not Lead.objects.filter(campaign_id=campaign.pk).exists()
    assert not EmailEvent.objects.filter(campaign_id=campaign.pk).exists()


@pytest.mark.parametrize("round_", range(3))
def test_mixed_pause_delete_activate_never_leave_an_invalid_state(raw_key, workspace, round_):
    campaign = make_campaign(workspace, status="PAUSED")
    make_lead(campaign)
    actions = ["activate", "pause", "delete", "activate", "pause", "delete", "activate", "pause"]
    requests = [action_request(campaign, actions[i % len(actions)]) for i in range(THREADS)]

    results = race(raw_key, requests)

    outcomes = Counter()
    for request, status, body in results:
        method = request.split()[0]
        if method == "delete":
            # A delete is refused only while the campaign is ACTIVE.
            assert status in (204, 404, 409), (request, status, body)
            if status == 409:
                assert body == {
                    "detail": "Cannot delete a campaign in status ACTIVE.",
                    "code": "invalid_state",
                    "status": "ACTIVE",
                    "allowed": ["DRAFT", "PAUSED"],
                }
        else:
            # Pause and activate are always allowed between ACTIVE and PAUSED.
            assert status in (200, 404), (request, status, body)
            if status == 200:
                assert body["status"] == ("ACTIVE" if request.endswith("activate") else "PAUSED")
        outcomes[status] += 1
    stored = Campaign.objects.filter(pk=campaign.pk).first()
    if stored is None:
        assert outcomes[204] == 1, results
        assert not Lead.objects.filter(campaign_id=campaign.pk).exists()
        assert not CampaignStep.objects.filter(campaign_id=campaign.pk).exists()
    else:
        assert outcomes[204] == 0, results
        assert outcomes[404] == 0, results
        assert stored.status in ("ACTIVE", "PAUSED")


@pytest.mark.parametrize(
    ("action", "start", "end"), [("activate", "PAUSED", "ACTIVE"), ("pause", "ACTIVE", "PAUSED")]
)
def test_concurrent_same_transition_moves_the_campaign_once(
    raw_key, workspace, caplog, action, start, end
):
    campaign = make_campaign(workspace, status=start)
    before = Campaign.objects.get(pk=campaign.pk).updated_at
    caplog.set_level(logging.INFO, logger="campaigns.transitions")

    results = race(raw_key, [action_request(campaign, action)] * THREADS)

    assert {status for _, status, _ in results} == {200}, results
    assert {body["status"] for _, _, body in results} == {end}
    stored = Campaign.objects.get(pk=campaign.pk)
    assert stored.status == end
    # Only a real transition writes updated_at, so one winner means one value in every answer.
    assert {body["updated_at"] for _, _, body in results} == {
        stored.updated_at.isoformat().replace("+00:00", "Z")
    }
    assert stored.updated_at > before
    moved = [r for r in caplog.records if f"{action}: {start} -> {end}" in r.getMessage()]
    assert len(moved) == 1


@pytest.mark.parametrize("round_", range(4))
def test_activation_and_sender_account_delete_never_both_win(raw_key, workspace, round_):
    """Activation locks the campaign's sender accounts; the sender-account delete locks the
    account and refuses while an ACTIVE campaign uses it. One of the two must lose."""
    campaign = make_campaign(workspace, senders=1)
    sender = campaign.sender_accounts.get()
    requests = [action_request(campaign, "activate")] * (THREADS // 2) + [
        ("delete", api_url(f"sender_accounts/{sender.pk}"))
    ] * (THREADS // 2)

    results = race(raw_key, requests)

    activated = [r for r in results if r[0].startswith("post") and r[1] == 200]
    deleted = [r for r in results if r[0].startswith("delete") and r[1] == 204]
    stored = Campaign.objects.get(pk=campaign.pk)
    if stored.status == "ACTIVE":
        assert activated
        assert not deleted, results
        assert stored.sender_accounts.filter(pk=sender.pk).exists()
    else:
        assert stored.status == "DRAFT"
        assert len(deleted) == 1, results
        assert not activated, results
        assert {r[2]["code"] for r in results if r[0].startswith("post")} == {"not_ready"}
