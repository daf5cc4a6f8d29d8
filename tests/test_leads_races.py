"""Races on leads with real threads and real transactions: racing creates of one email store
one lead, racing deletes delete once, and a delete racing a status change never loses it."""

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils.timezone import now
from rest_framework.test import APIClient

from engagement.models import EmailEvent
from leads.models import Lead
from tests.urls import api_url

LEADS = api_url("leads")
THREADS = 16

pytestmark = pytest.mark.django_db(transaction=True)


def race(workers: list[Callable[[], object]]) -> list[object]:
    """Run every worker in its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(index: int, work: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:  # reported by the assertions below, not lost in the thread
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def raw_key(make_key) -> str:
    return make_key(["leads:all"])[1]


def client_for(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def test_racing_creates_of_one_email_store_exactly_one_lead(raw_key, campaign):
    # Same address, differently written: all normalise to one.
    spellings = ["ada@example.com", "ADA@example.com", " Ada@Example.com ", "ada@EXAMPLE.COM"]

    def create(index: int) -> Callable[[], tuple[int, dict]]:
        def work() -> tuple[int, dict]:
            body = {"campaign_id": str(campaign.pk), "email": spellings[index % len(spellings)]}
            response = client_for(raw_key).post(LEADS, body)
            return response.status_code, response.json()

        return work

    results = race([create(i) for i in range(THREADS)])

    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: THREADS - 1}, results
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com"
    created = next(body for status, body in results if status == 201)
    assert created["id"] == str(lead.pk)
    for status, body in results:
        if status == 409:
            assert body == {
                "detail": "A lead with this email already exists in this campaign.",
                "code": "duplicate",
                "lead_id": str(lead.pk),
            }


def test_racing_creates_of_different_emails_all_succeed(raw_key, campaign):
    def create(index: int) -> Callable[[], int]:
        def work() -> int:
            body = {"campaign_id": str(campaign.pk), "email": f"lead{index}@example.com"}
            return client_for(raw_key).post(LEADS, body).status_code

        return work

    results = race([create(i) for i in range(THREADS)])

    assert results == [201] * THREADS
    assert Lead.objects.count() == THREADS


def test_racing_deletes_delete_once(raw_key, campaign):
    lead = Lead.objects.create(workspace_id=campaign.workspace_id, campaign=campaign, email="a@b.c")

    def delete() -> int:
        return client_for(raw_key).delete(f"{LEADS}/{lead.pk}").status_code

    results = race([delete] * 8)

    assert Counter(results) == {204: 1, 404: 7}, results
    assert not Lead.objects.exists()


# The status change starts a little later each round, so across the rounds it lands before,
# inside and after the delete's statements; events on the lead widen the delete's window.
@pytest.mark.parametrize("delay_ms", range(0, 24, 2))
def test_a_delete_racing_a_status_change_never_both_win(raw_key, campaign, delay_ms):
    lead = Lead.objects.create(workspace_id=campaign.workspace_id, campaign=campaign, email="a@b.c")
    EmailEvent.objects.bulk_create(
        EmailEvent(campaign=campaign, lead=lead, type=EmailEvent.Type.OPENED, occurred_at=now())
        for _ in range(500)
    )

    def delete() -> int:
        return client_for(raw_key).delete(f"{LEADS}/{lead.pk}").status_code

    def contact() -> int:  # what the sender engine does when it sends the first step
        time.sleep(delay_ms / 1000)
        pending = Lead.objects.filter(pk=lead.pk, status=Lead.Status.PENDING)
        return pending.update(status=Lead.Status.CONTACTED)

    results = race([delete, contact] * 4)

    assert not [r for r in results if isinstance(r, Exception)], results
    deletes = Counter(results[0::2])
    contacted = sum(results[1::2])
    if Lead.objects.filter(pk=lead.pk).exists():
        assert contacted == 1
        assert Lead.objects.get(pk=lead.pk).status == Lead.Status.CONTACTED
        assert 204 not in deletes
        assert set(deletes) <= {409}
        assert EmailEvent.objects.filter(lead=lead).count() == 500
    else:
        assert contacted == 0
        assert deletes == {204: 1, 404: 3}
        assert not EmailEvent.objects.filter(lead_id=lead.pk).exists()
