"""DELETE sender_accounts/{id} (API.md §4): 204, or 409 `in_use` while an ACTIVE campaign uses
the account, decided under a row lock so that it serialises with a campaign's activation."""

import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from engagement.models import EmailEvent
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.factories import campaign_using, make_sender
from tests.urls import api_url

Status = Campaign.Status


def detail_url(pk) -> str:
    return api_url(f"sender_accounts/{pk}")


def test_delete_is_204_and_the_account_is_gone(client_all, workspace):
    account = make_sender(workspace)

    response = client_all.delete(detail_url(account.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert not SenderAccount.objects.filter(pk=account.pk).exists()
    assert client_all.get(detail_url(account.pk)).status_code == 404
    assert client_all.delete(detail_url(account.pk)).status_code == 404


def test_delete_is_409_while_an_active_campaign_uses_it(client_all, workspace):
    account = make_sender(workspace)
    active = campaign_using(workspace, account, status=Status.ACTIVE)
    other_active = campaign_using(workspace, account, status=Status.ACTIVE)
    campaign_using(workspace, account, status=Status.PAUSED)
    campaign_using(workspace, make_sender(workspace), status=Status.ACTIVE)  # not using it

    response = client_all.delete(detail_url(account.pk))

    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"detail", "code", "campaigns"}
    assert body["code"] == "in_use"
    assert body["detail"]
    assert sorted(body["campaigns"]) == sorted([str(active.pk), str(other_active.pk)])
    assert SenderAccount.objects.filter(pk=account.pk).exists()
    assert set(active.sender_accounts.all()) == {account}


@pytest.mark.parametrize("status", [Status.DRAFT, Status.PAUSED, Status.COMPLETED])
def test_delete_is_204_when_the_campaigns_using_it_are_not_active(client_all, workspace, status):
    account, kept = make_sender(workspace), make_sender(workspace)
    campaign = campaign_using(workspace, account, kept, status=status)

    response = client_all.delete(detail_url(account.pk))

    assert response.status_code == 204
    assert not SenderAccount.objects.filter(pk=account.pk).exists()
    campaign.refresh_from_db()
    assert campaign.status == status
    assert list(campaign.sender_accounts.all()) == [kept]


def test_delete_after_pausing_the_campaign(client_all, workspace):
    account = make_sender(workspace)
    campaign = campaign_using(workspace, account, status=Status.ACTIVE)
    assert client_all.delete(detail_url(account.pk)).status_code == 409

    Campaign.objects.filter(pk=campaign.pk).update(status=Status.PAUSED)

    assert client_all.delete(detail_url(account.pk)).status_code == 204


def test_delete_keeps_the_sending_history(client_all, workspace):
    account = make_sender(workspace)
    campaign = campaign_using(workspace, account, status=Status.PAUSED)
    lead = Lead.objects.create(workspace=workspace, campaign=campaign, email="x@example.com")
    event = EmailEvent.objects.create(
        campaign=campaign,
        lead=lead,
        sender_account=account,
        type=EmailEvent.Type.SENT,
        occurred_at=timezone.now(),
    )

    assert client_all.delete(detail_url(account.pk)).status_code == 204

    event.refresh_from_db()
    assert event.sender_account is None
    assert event.campaign == campaign


def test_delete_without_the_delete_scope_is_403_and_keeps_it(make_client, workspace):
    account = make_sender(workspace)
    response = make_client(["sender_accounts:read", "sender_accounts:create"]).delete(
        detail_url(account.pk)
    )
    assert response.status_code == 403
    assert SenderAccount.objects.filter(pk=account.pk).exists()


def test_403_comes_before_409(make_client, workspace):
    account = make_sender(workspace)
    campaign_using(workspace, account, status=Status.ACTIVE)
    response = make_client(["sender_accounts:read"]).delete(detail_url(account.pk))
    assert response.status_code == 403


# --- races ---------------------------------------------------------------------------------


def in_thread(target, results, name):
    def run():
        try:
            results[name] = target()
        except Exception as error:  # reported by the assertions below
            results[name] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_delete_waits_for_a_concurrent_activation_and_refuses(make_client, workspace):
    """The activation takes the locks as campaigns.transitions.activate does (campaign row, then
    its accounts' rows) and commits only after the DELETE has started. Without the account lock
    the DELETE would read the campaign as DRAFT, then delete the account from under it."""
    account = make_sender(workspace)
    campaign = campaign_using(workspace, account)
    client = make_client(["sender_accounts:delete"])
    locked, release, results = threading.Event(), threading.Event(), {}

    def activate():
        with transaction.atomic():
            Campaign.objects.select_for_update().get(pk=campaign.pk)
            list(SenderAccount.objects.select_for_update().filter(campaigns=campaign))
            Campaign.objects.filter(pk=campaign.pk).update(status=Status.ACTIVE)
            locked.set()
            release.wait(10)
        return "activated"

    activation = in_thread(activate, results, "activate")
    assert locked.wait(10)
    deletion = in_thread(lambda: client.delete(detail_url(account.pk)), results, "delete")
    time.sleep(0.5)  # let the DELETE reach the lock
    release.set()
    activation.join(30)
    deletion.join(30)

    assert results["activate"] == "activated"
    response = results["delete"]
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "in_use"
    assert response.json()["campaigns"] == [str(campaign.pk)]
    assert SenderAccount.objects.filter(pk=account.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_racing_deletes_one_wins(make_client, workspace):
    account = make_sender(workspace)
    clients = [make_client(["sender_accounts:delete"]) for _ in range(2)]
    start, results = threading.Barrier(2), {}

    def delete(client):
        start.wait(10)
        return client.delete(detail_url(account.pk))

    threads = [in_thread(lambda c=c: delete(c), results, i) for i, c in enumerate(clients)]
    for thread in threads:
        thread.join(30)

    statuses = sorted(results[i].status_code for i in range(2))
    assert statuses == [204, 404], [results[i].content for i in range(2)]
    assert not SenderAccount.objects.filter(pk=account.pk).exists()


def test_unknown_account_delete_is_404(client_all):
    response = client_all.delete(detail_url(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
