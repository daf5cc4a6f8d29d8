"""Failures (API.md §7): 5xx → BOUNCED and suppressed in the workspace; 4xx or a dropped
connection → retried with backoff, then FAILED; 535 or an unreachable server → the account in
ERROR until a re-check succeeds; bounce protection; crashes never send a step twice."""

from datetime import timedelta

import pytest

from campaigns.models import Campaign
from coldsend.core.clock import now
from delivery import engine
from delivery.models import Message
from engagement.models import Suppression
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    PASSWORD,
    activate,
    add_lead,
    add_leads,
    api_url,
    campaign,
    create_account,
    create_campaign,
    free_port,
    leads_of,
    pause,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")

TWO_STEPS = [
    {"subject": "One", "body": "1", "delay_days": 0},
    {"subject": "Two", "body": "2", "delay_days": 1},
]


def test_a_rejected_recipient_bounces_and_is_suppressed_in_the_workspace(
    client_all, make_client, other_workspace, sink, clock
):
    account = create_account(client_all, sink)
    first = create_campaign(client_all, [account], TWO_STEPS, name="First")
    second = create_campaign(client_all, [account], name="Second")
    sink.reject.add("gone@example.com")
    add_leads(client_all, first, [{"email": "gone@example.com"}, {"email": "ok@example.com"}])
    add_lead(client_all, second, "gone@example.com")  # already scheduled when the bounce comes
    activate(client_all, first)
    run_engine()
    activate(client_all, second)

    assert leads_of(client_all, first)["gone@example.com"]["status"] == "BOUNCED"
    assert Suppression.objects.filter(email="gone@example.com", reason="BOUNCED").count() == 1
    stats = campaign(client_all, first)["stats"]
    assert (stats["sent"], stats["bounced"]) == (1, 1)
    message = Message.objects.get(lead__email="gone@example.com")
    assert (message.status, message.attempts) == ("BOUNCED", 1)
    assert message.error.startswith("550")

    run_engine()
    clock.shift(timedelta(days=1))
    run_engine()
    # Never contacted again, from any campaign of the workspace: no RCPT for it succeeded,
    # and the second campaign's lead took the BOUNCED status instead of its first send.
    assert leads_of(client_all, second)["gone@example.com"]["status"] == "BOUNCED"
    assert not Message.objects.filter(lead__campaign_id=second).exists()
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.com"], ["ok@example.com"]]

    # A lead added later takes the status at once.
    third = create_campaign(client_all, [account], name="Third")
    add_lead(client_all, third, "gone@example.com")
    assert leads_of(client_all, third)["gone@example.com"]["status"] == "BOUNCED"
    # Another workspace is not affected.
    other = make_client(ws=other_workspace)
    other_account = create_account(other, sink)
    other_campaign = create_campaign(other, [other_account])
    add_lead(other, other_campaign, "gone@example.com")
    assert leads_of(other, other_campaign)["gone@example.com"]["status"] == "PENDING"


def test_an_unsubscribed_address_is_never_contacted(client_all, workspace, sink, clock):
    from delivery.actions import do_suppress as suppress

    suppress(workspace, "Left@Example.com", Suppression.Reason.UNSUBSCRIBED)
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": "left@example.com"}, {"email": "ok@example.com"}])
    activate(client_all, campaign_id)
    run_engine()
    assert leads_of(client_all, campaign_id)["left@example.com"]["status"] == "UNSUBSCRIBED"
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.com"]]
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"


def test_a_temporary_failure_is_retried_with_backoff_then_succeeds(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": "slow@example.com"}, {"email": "ok@example.com"}])
    sink.defer.add("slow@example.com")
    activate(client_all, campaign_id)
    run_engine()
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.com"]]  # the batch went on
    lead = Lead.objects.get(email="slow@example.com")
    assert lead.status == "PENDING"
    assert lead.next_send_at == now() + timedelta(seconds=600)
    message = Message.objects.get(lead=lead)
    assert (message.status, message.attempts, message.error[:3]) == ("RETRY", 1, "451")

    clock.shift(timedelta(seconds=599))
    run_engine()
    assert Message.objects.get(lead=lead).attempts == 1
    clock.shift(timedelta(seconds=1))
    run_engine()
    assert Message.objects.get(lead=lead).attempts == 2
    assert Lead.objects.get(pk=lead.pk).next_send_at == now() + timedelta(seconds=1200)

    sink.defer.clear()
    clock.shift(timedelta(seconds=1200))
    run_engine()
    message = Message.objects.get(lead=lead)
    assert (message.status, message.attempts) == ("SENT", 3)
    assert leads_of(client_all, campaign_id)["slow@example.com"]["status"] == "COMPLETED"
    assert len(sink.to("slow@example.com")) == 1


def test_retries_give_up_after_the_last_attempt_over_at_least_30_minutes(
    client_all, sink, clock, settings
):
    assert settings.SEND_MAX_ATTEMPTS >= 3
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "slow@example.com")
    sink.defer.add("slow@example.com")
    activate(client_all, campaign_id)
    started = now()
    attempts_at = []
    for _ in range(10):
        if run_engine():
            attempts_at.append(now())
        lead = Lead.objects.get()
        if lead.next_send_at is None:
            break
        clock.move_to(lead.next_send_at)
    assert len(attempts_at) == settings.SEND_MAX_ATTEMPTS
    assert attempts_at[-1] - started >= timedelta(minutes=30)
    assert leads_of(client_all, campaign_id)["slow@example.com"]["status"] == "FAILED"
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("FAILED", settings.SEND_MAX_ATTEMPTS)
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"


def test_pause_resume_and_edits_keep_a_retry_waiting_for_its_backoff(client_all, sink, clock):
    """A lead waiting to retry is not due again sooner because the campaign was paused and
    activated or its schedule edited: the tries stay spread over at least 30 minutes."""
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "slow@example.com")
    sink.defer.add("slow@example.com")
    activate(client_all, campaign_id)
    run_engine()
    due = now() + timedelta(seconds=600)
    assert Lead.objects.get().next_send_at == due

    clock.shift(timedelta(seconds=60))
    pause(client_all, campaign_id)
    activate(client_all, campaign_id)
    assert Lead.objects.get().next_send_at == due
    schedule = {**campaign(client_all, campaign_id)["schedule"], "end_time": "23:30"}
    response = client_all.patch(
        api_url(f"campaigns/{campaign_id}"), {"schedule": schedule}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Lead.objects.get().next_send_at == due
    run_engine()
    assert Message.objects.get().attempts == 1  # not tried again before its time

    clock.move_to(due)
    run_engine()
    assert Message.objects.get().attempts == 2


def follow_up_waiting_to_retry(client_all, sink, clock) -> tuple[str, list[dict]]:
    """A paused two-step campaign whose one lead got step 1 a day ago and a 451 for step 2:
    (campaign id, its steps)."""
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "", "body": "2", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], steps)
    add_lead(client_all, campaign_id, "slow@example.com")
    activate(client_all, campaign_id)
    run_engine()
    clock.shift(timedelta(days=1))
    sink.defer.add("slow@example.com")
    run_engine()
    assert Message.objects.get(step=2).status == "RETRY"
    pause(client_all, campaign_id)
    return campaign_id, steps


def test_a_longer_step_delay_still_holds_for_a_lead_waiting_to_retry(client_all, sink, clock):
    """Rescheduling keeps a retry's backoff but never brings a step forward: a follow-up whose
    delay was made longer while it waited to retry goes at the new delay."""
    campaign_id, steps = follow_up_waiting_to_retry(client_all, sink, clock)
    first_sent = now() - timedelta(days=1)  # the helper sent step 1 a day ago
    steps[1]["delay_days"] = 5
    response = client_all.patch(
        api_url(f"campaigns/{campaign_id}"), {"steps": steps}, format="json"
    )
    assert response.status_code == 200, response.content
    activate(client_all, campaign_id)
    assert Lead.objects.get().next_send_at == first_sent + timedelta(days=5)


def test_a_step_removed_while_waiting_to_retry_lets_the_campaign_complete(client_all, sink, clock):
    campaign_id, steps = follow_up_waiting_to_retry(client_all, sink, clock)
    response = client_all.patch(
        api_url(f"campaigns/{campaign_id}"), {"steps": steps[:1]}, format="json"
    )
    assert response.status_code == 200, response.content
    activate(client_all, campaign_id)

    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
    assert leads_of(client_all, campaign_id)["slow@example.com"]["status"] == "COMPLETED"
    step2 = Message.objects.get(step=2)
    assert (step2.status, step2.attempts) == ("FAILED", 1)  # not tried again
    assert step2.error.startswith("451")


def test_a_dropped_connection_is_retried_and_the_batch_goes_on(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(4)])
    sink.drop.add("l1@example.com")
    activate(client_all, campaign_id)
    run_engine()
    assert sorted(r.rcpt_tos[0] for r in sink.received) == [
        "l0@example.com",
        "l2@example.com",
        "l3@example.com",
    ]
    message = Message.objects.get(lead__email="l1@example.com")
    assert (message.status, message.attempts) == ("RETRY", 1)
    sink.drop.clear()
    clock.shift(timedelta(seconds=600))
    run_engine()
    assert len(sink.to("l1@example.com")) == 1


def test_refused_authentication_puts_the_account_in_error_until_a_recheck_succeeds(
    client_all, sink, clock, settings
):
    good = create_account(client_all, sink, email="good@sender.example")
    bad = create_account(client_all, sink, email="bad@sender.example")
    campaign_id = create_campaign(client_all, [good, bad], TWO_STEPS)
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(4)])
    activate(client_all, campaign_id)
    run_engine()  # step 1 from both accounts
    assert {r.mail_from for r in sink.received} == {"good@sender.example", "bad@sender.example"}
    pinned_to_bad = {r.rcpt_tos[0] for r in sink.received if r.mail_from == "bad@sender.example"}

    sink.refuse_auth = True  # the bad account's password no longer works (nor the good one's)
    SenderAccount.objects.filter(pk=good).update(smtp_username="")  # the good one needs none
    clock.shift(timedelta(days=1))
    run_engine()
    body = client_all.get(api_url(f"sender_accounts/{bad}")).json()
    assert body["status"] == "ERROR"
    account = SenderAccount.objects.get(pk=bad)
    assert account.last_error == "Authentication refused (535)."
    assert PASSWORD not in account.last_error
    # The good account's leads got their step 2; the bad account's leads wait for it.
    assert len(sink.received) == 4 + 4 - len(pinned_to_bad)
    for address in pinned_to_bad:
        assert len(sink.to(address)) == 1
        assert Lead.objects.get(email=address).next_send_at == now() + timedelta(
            seconds=settings.ACCOUNT_RECHECK_SECONDS
        )

    # New leads go to the other account meanwhile.
    add_lead(client_all, campaign_id, "new@example.com")
    run_engine()
    assert [r.mail_from for r in sink.to("new@example.com")] == ["good@sender.example"]

    sink.refuse_auth = False
    clock.shift(timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS))
    run_engine()
    assert SenderAccount.objects.get(pk=bad).status == "ACTIVE"
    assert SenderAccount.objects.get(pk=bad).last_error == ""
    for address in pinned_to_bad:
        assert [r.mail_from for r in sink.to(address)] == ["bad@sender.example"] * 2


def test_an_unreachable_server_puts_the_account_in_error(client_all, sink, clock, settings):
    account = create_account(client_all, None, port=free_port())
    campaign_id = create_campaign(client_all, [account])
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    run_engine()
    stored = SenderAccount.objects.get(pk=account)
    assert stored.status == "ERROR"
    assert stored.last_error.startswith("Cannot connect to 127.0.0.1:")
    assert leads_of(client_all, campaign_id)["ann@example.com"]["status"] == "PENDING"
    assert not Message.objects.exists()  # nothing was attempted
    # Still unreachable at the re-check: still ERROR, checked again later.
    clock.shift(timedelta(seconds=settings.ACCOUNT_RECHECK_SECONDS))
    run_engine()
    assert SenderAccount.objects.get(pk=account).status == "ERROR"


def test_bounce_protection_pauses_the_campaign(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    addresses = [f"l{i:02}@example.com" for i in range(30)]
    sink.reject.update({"l03@example.com", "l07@example.com"})  # 2 of the first 20: 10 %
    add_leads(client_all, campaign_id, [{"email": a} for a in addresses])
    from django.test import override_settings

    with override_settings(SEND_BATCH_SIZE=1):
        run = 0
        activate(client_all, campaign_id)
        while run_engine(rounds=1):
            run += 1
    stored = Campaign.objects.get(pk=campaign_id)
    assert stored.status == "PAUSED"
    assert stored.paused_reason == "bounce_rate"
    attempted = Message.objects.filter(campaign_id=campaign_id).count()
    assert attempted == 20  # paused as soon as the 20th attempt made the rate count
    assert Lead.objects.filter(campaign_id=campaign_id, next_send_at__isnull=False).count() == 0

    # The user's pause says "user"; activation clears the reason.
    activate(client_all, campaign_id)
    assert Campaign.objects.get(pk=campaign_id).paused_reason is None
    pause(client_all, campaign_id)
    assert Campaign.objects.get(pk=campaign_id).paused_reason == "user"


def test_bounces_under_twenty_attempts_do_not_pause(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    # 4 bounces of 19 (21 %), never 5 in a row.
    sink.reject.update({f"l{i}@example.com" for i in (0, 2, 4, 6)})
    add_leads(client_all, campaign_id, [{"email": f"l{i}@example.com"} for i in range(19)])
    activate(client_all, campaign_id)
    run_engine()
    stored = Campaign.objects.get(pk=campaign_id)
    assert (stored.status, stored.paused_reason) == ("COMPLETED", None)


def test_a_crash_before_the_gate_hands_the_message_back(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)])
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    claims = engine.claim(now(), 10)  # a worker claims, then dies before sending
    assert len(claims) == 1
    run_engine()
    assert sink.received == []  # still leased
    clock.shift(timedelta(seconds=301))
    run_engine()
    assert [r.rcpt_tos for r in sink.received] == [["ann@example.com"]]
    assert Message.objects.get().attempts == 1
    # The dead worker's claim is no longer valid: it sends nothing if it wakes up.
    assert engine.deliver(claims) == {"lost": 1}
    assert len(sink.received) == 1


def test_a_crash_after_the_gate_is_never_resent(client_all, sink, clock):
    campaign_id = create_campaign(client_all, [create_account(client_all, sink)], TWO_STEPS)
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    claims = engine.claim(now(), 10)
    # The worker passed the gate (SENDING) and died mid-transaction.
    Message.objects.filter(pk=claims[0].message_id).update(
        status="SENDING", attempts=1, attempted_at=now()
    )
    clock.shift(timedelta(seconds=301))
    run_engine()
    clock.shift(timedelta(days=2))
    run_engine()
    assert sink.received == []
    message = Message.objects.get()
    assert (message.status, message.error) == ("FAILED", "interrupted")
    assert leads_of(client_all, campaign_id)["ann@example.com"]["status"] == "FAILED"
    assert campaign(client_all, campaign_id)["status"] == "COMPLETED"
