"""Webhook deliveries by a real `manage.py run_worker` process, on committed data (API.md §10):
a tarpit endpoint that never answers delays no other endpoint, and a worker killed with
SIGKILL between the commit and the delivery loses none (its leases run out; the next worker's
sweep delivers)."""

import signal
import time

import pytest
from django.db import transaction

from campaigns.models import Campaign
from events.services import campaign_data, record_event
from tests.processes import start_worker, stop, wait_for
from tests.urls import api_url
from tests.webhook_support import HANG, Receiver, receiver_fixture  # noqa: F401
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = 20
FAST = {
    "WEBHOOK_SWEEP_SECONDS": "0.2",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1",
    "WEBHOOK_LEASE_SECONDS": "2",  # the lease is never shorter than budget + timeout + 5 s
}
# A short budget and timeout, so the lease a killed worker leaves is short (1 + 3 + 5 s).
SHORT_LEASE = {**FAST, "WEBHOOK_TASK_SECONDS": "1", "WEBHOOK_TIMEOUT_SECONDS": "3"}


def hook(client, receiver: Receiver, path: str) -> str:
    body = {"url": receiver.url(path), "event_types": ["*"]}
    response = client.post(api_url("webhooks"), body, format="json")
    assert response.status_code == 201, response.content
    receiver.expect(response.json()["secret"], path)
    return response.json()["id"]


def commit_events(campaign: Campaign, count: int = EVENTS) -> set[str]:
    """`count` events committed in one transaction, through the one way events are written."""
    with transaction.atomic():
        ids = {
            str(
                record_event(
                    campaign.workspace_id,
                    "campaign.paused" if n % 2 else "campaign.activated",
                    {**campaign_data(campaign), "reason": "user"},
                    campaign_id=campaign.pk,
                ).pk
            )
            for n in range(count)
        }
    return ids


def ids_at(receiver: Receiver, path: str) -> set[str]:
    return {hit.id for hit in receiver.to(path) if hit.verified}


def warmed_up(client, receiver: Receiver, campaign: Campaign) -> None:
    """Wait until the worker delivers (its dispatcher and task threads are up), with an event
    of another workspace's endpoint, which the endpoints under test never see."""
    hook(client, receiver, "/warmup")
    commit_events(campaign, 1)
    receiver.wait_for(1, path="/warmup", timeout=30)


def test_a_tarpit_endpoint_does_not_delay_a_healthy_one(
    client_all, make_client, campaign, foreign_campaign, other_workspace, receiver
):
    receiver.answer_always(HANG, path="/tarpit")
    hook(client_all, receiver, "/tarpit")
    hook(client_all, receiver, "/healthy")
    worker = start_worker(tasks=True, WEBHOOK_TIMEOUT_SECONDS="15", **FAST)
    try:
        warmed_up(make_client(["*"], other_workspace), receiver, foreign_campaign)
        committed = time.monotonic()
        ids = commit_events(campaign)
        assert wait_for(lambda: ids_at(receiver, "/healthy") == ids, timeout=15)
        took = time.monotonic() - committed
        assert took < 8, took
        # The tarpit holds one delivery (the others wait for its retry), still unanswered.
        assert wait_for(lambda: receiver.to("/tarpit"), timeout=5)
        assert len(receiver.to("/tarpit")) == 1
        assert receiver.to("/tarpit")[0].id in ids
        assert time.monotonic() - receiver.to("/tarpit")[0].at < 15
    finally:
        receiver.released.set()
        assert stop([worker]) == [0]
    assert receiver.to("/warmup")[0].event["workspace"] == "globex"


def test_a_worker_killed_before_the_delivery_is_recorded_loses_nothing(
    client_all, make_client, campaign, foreign_campaign, other_workspace, receiver
):
    receiver.script(HANG, path="/hook")  # the first POST never gets its answer
    endpoint_id = hook(client_all, receiver, "/hook")
    first = start_worker(tasks=True, **SHORT_LEASE)
    try:
        warmed_up(make_client(["*"], other_workspace), receiver, foreign_campaign)
        ids = commit_events(campaign)
        assert wait_for(lambda: len(receiver.to("/hook")) == 1, timeout=15)
        leased = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
        assert leased.count() == EVENTS
        assert not leased.exclude(status="PENDING").exists()  # nothing recorded yet
        assert leased.filter(leased_until__isnull=False).exists()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

    second = start_worker(tasks=True, **SHORT_LEASE)
    try:
        after_kill = lambda: {hit.id for hit in receiver.to("/hook")[1:] if hit.verified}  # noqa: E731
        assert wait_for(lambda: after_kill() == ids, timeout=30)
        assert wait_for(lambda: not leased.exclude(status="DELIVERED").exists(), timeout=10)
    finally:
        receiver.released.set()
        assert stop([second]) == [0]
    hits = receiver.to("/hook")
    assert all(hit.verified for hit in hits)
    # At least once: the delivery the killed worker was sending may come again, same id.
    assert len(hits) in (EVENTS, EVENTS + 1)


def test_one_workspaces_slow_endpoints_leave_workers_for_the_others(
    client_all, make_client, campaign, foreign_campaign, other_workspace, receiver
):
    """Three tarpit endpoints of one workspace and three delivery workers: at most
    WEBHOOK_TASKS_PER_WORKSPACE (2) of them hold a worker, so another workspace's healthy
    endpoint is delivered at once, not after a tarpit's 15 s."""
    for n in range(3):
        receiver.answer_always(HANG, path=f"/tarpit{n}")
        hook(client_all, receiver, f"/tarpit{n}")
    other = make_client(["*"], other_workspace)
    hook(other, receiver, "/healthy")
    worker = start_worker(tasks=True, WEBHOOK_TIMEOUT_SECONDS="15", WEBHOOK_WORKERS="3", **FAST)
    try:
        warm = commit_events(foreign_campaign, 1)
        assert wait_for(lambda: ids_at(receiver, "/healthy") == warm, timeout=30)
        commit_events(campaign, 3)
        tarpits = lambda: sum(len(receiver.to(f"/tarpit{n}")) for n in range(3))  # noqa: E731
        assert wait_for(lambda: tarpits() == 2, timeout=10)  # two workers held, not three
        committed = time.monotonic()
        ids = commit_events(foreign_campaign, 5)
        assert wait_for(lambda: ids <= ids_at(receiver, "/healthy"), timeout=15)
        took = time.monotonic() - committed
        assert took < 8, took
        assert tarpits() == 2
    finally:
        receiver.released.set()
        assert stop([worker]) == [0]
