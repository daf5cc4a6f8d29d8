"""Pacing: each account's daily_limit over any rolling 24 hours across campaigns, each
campaign's own daily_limit (every attempt counts), the random gap between two sends of an
account, follow-ups before new leads, one account per lead, new leads spread over accounts."""

from datetime import timedelta

import pytest

from campaigns.models import Campaign
from coldsend.core.clock import now
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    activate,
    add_lead,
    add_leads,
    api_url,
    create_account,
    create_campaign,
    pause,
    run_engine,
)

pytestmark = pytest.mark.usefixtures("delivery_settings")


def leads(prefix, n):
    return [{"email": f"{prefix}{i}@example.com"} for i in range(n)]


def test_the_account_limit_holds_across_campaigns_over_a_rolling_day(client_all, sink, clock):
    account = create_account(client_all, sink, daily_limit=3)
    first = create_campaign(client_all, [account], name="A")
    second = create_campaign(client_all, [account], name="B")
    add_leads(client_all, first, leads("a", 3))
    add_leads(client_all, second, leads("b", 3))
    activate(client_all, first)
    run_engine()
    clock.shift(timedelta(hours=1))
    activate(client_all, second)
    run_engine()
    assert len(sink.received) == 3  # all from the first campaign, an hour earlier

    # They wait for the first attempt to leave the rolling 24 hours.
    waiting = Lead.objects.filter(status="PENDING")
    assert {lead.next_send_at for lead in waiting} == {now() + timedelta(hours=23)}
    clock.shift(timedelta(hours=22, minutes=59, seconds=59))  # 23:59:59 after the first sends
    run_engine()
    assert len(sink.received) == 3
    clock.shift(timedelta(seconds=1))
    run_engine()
    assert len(sink.received) == 6


def test_the_campaign_limit_counts_every_attempt(client_all, sink, clock):
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in range(2)]
    campaign_id = create_campaign(client_all, accounts, daily_limit=3)
    sink.reject.add("r0@example.com")
    add_leads(client_all, campaign_id, leads("r", 6))
    activate(client_all, campaign_id)
    run_engine()
    # Three attempts, the bounced one included, whatever the accounts could still send.
    assert len(sink.received) == 2
    assert Lead.objects.filter(status="BOUNCED").count() == 1
    assert Lead.objects.filter(status="PENDING").count() == 3
    clock.shift(timedelta(hours=23))
    run_engine()
    assert len(sink.received) == 2
    clock.shift(timedelta(hours=1))
    run_engine()
    assert len(sink.received) == 5


def test_two_campaigns_sharing_an_account_each_keep_their_own_limit(client_all, sink, clock):
    account = create_account(client_all, sink, daily_limit=4)
    first = create_campaign(client_all, [account], name="A", daily_limit=1)
    second = create_campaign(client_all, [account], name="B", daily_limit=10)
    add_leads(client_all, first, leads("a", 3))
    add_leads(client_all, second, leads("b", 5))
    activate(client_all, first)
    activate(client_all, second)
    per_day = []
    for _ in range(4):
        before = len(sink.received)
        run_engine()
        per_day.append("".join(sorted(r.rcpt_tos[0][0] for r in sink.received[before:])))
        clock.shift(timedelta(days=1))
    assert all(len(day) <= 4 and day.count("a") <= 1 for day in per_day), per_day
    assert len(per_day[0]) == 4  # the account's limit, not the campaigns'
    assert "".join(sorted("".join(per_day))) == "aaabbbbb"


def test_two_sends_of_an_account_are_spaced_by_the_gap(client_all, sink, clock):
    account = create_account(client_all, sink, gap=60)
    campaign_id = create_campaign(client_all, [account])
    add_leads(client_all, campaign_id, leads("g", 3))
    activate(client_all, campaign_id)
    run_engine()
    assert len(sink.received) == 1
    waiting = Lead.objects.filter(status="PENDING").values_list("next_send_at", flat=True)
    assert set(waiting) == {now() + timedelta(seconds=60)}
    clock.shift(timedelta(seconds=59))
    run_engine()
    assert len(sink.received) == 1
    clock.shift(timedelta(seconds=1))
    run_engine()
    assert len(sink.received) == 2
    clock.shift(timedelta(seconds=60))
    run_engine()
    assert len(sink.received) == 3


def test_the_gap_is_random_between_min_and_max(client_all, sink, clock):
    account = create_account(client_all, sink, gap=None)
    SenderAccount.objects.filter(pk=account).update(
        min_interval_seconds=30, max_interval_seconds=90
    )
    campaign_id = create_campaign(client_all, [account])
    add_leads(client_all, campaign_id, leads("r", 8))
    activate(client_all, campaign_id)
    gaps, last = [], None
    for _ in range(8):
        run_engine()
        if last is not None:
            gaps.append((now() - last).total_seconds())
        last = now()
        pending = Lead.objects.filter(status="PENDING").order_by("next_send_at").first()
        if pending:
            assert pending.next_send_at > now()
            clock.move_to(pending.next_send_at)
    assert len(sink.received) == 8
    assert all(30 <= g <= 90 for g in gaps), gaps
    assert len(set(gaps)) > 1  # random, not fixed


def test_follow_ups_go_before_new_leads(client_all, sink, clock):
    account = create_account(client_all, sink, gap=60)
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "Two", "body": "2", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, [account], steps)
    add_lead(client_all, campaign_id, "old@example.com")
    activate(client_all, campaign_id)
    run_engine()
    clock.shift(timedelta(hours=23))
    add_leads(client_all, campaign_id, leads("new", 3))  # due now, before the follow-up
    clock.shift(timedelta(hours=1))
    run_engine()
    order = [(r.rcpt_tos[0], r.message["Subject"]) for r in sink.received]
    assert order[1] == ("old@example.com", "Two"), order


def test_new_leads_are_spread_and_each_lead_keeps_its_account(client_all, sink, clock):
    accounts = [create_account(client_all, sink, email=f"s{i}@sender.example") for i in range(2)]
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "Two", "body": "2", "delay_days": 1},
        {"subject": "Three", "body": "3", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, accounts, steps)
    add_leads(client_all, campaign_id, leads("p", 6))
    activate(client_all, campaign_id)
    for _ in steps:
        run_engine()
        clock.shift(timedelta(days=1))
    senders = {}
    for r in sink.received:
        senders.setdefault(r.rcpt_tos[0], set()).add(r.mail_from)
    assert all(len(s) == 1 for s in senders.values()), senders
    per_account = [
        sum(1 for s in senders.values() if s == {f"s{i}@sender.example"}) for i in range(2)
    ]
    assert per_account == [3, 3]


def test_a_lead_whose_account_left_the_campaign_goes_on_from_another(client_all, sink, clock):
    first = create_account(client_all, sink, email="first@sender.example")
    second = create_account(client_all, sink, email="second@sender.example")
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "", "body": "2", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, [first], steps)
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    run_engine()
    pause(client_all, campaign_id)
    response = client_all.patch(
        api_url(f"campaigns/{campaign_id}"), {"sender_account_ids": [second]}, format="json"
    )
    assert response.status_code == 200, response.content
    activate(client_all, campaign_id)
    clock.shift(timedelta(days=1))
    run_engine()
    one, two = sink.received
    assert (one.mail_from, two.mail_from) == ("first@sender.example", "second@sender.example")
    assert two.message["In-Reply-To"] == one.message["Message-ID"]
    assert Campaign.objects.get(pk=campaign_id).status == "COMPLETED"


def test_a_lead_whose_account_was_deleted_goes_on_from_another(client_all, sink, clock):
    first = create_account(client_all, sink, email="first@sender.example")
    second = create_account(client_all, sink, email="second@sender.example")
    steps = [
        {"subject": "One", "body": "1", "delay_days": 0},
        {"subject": "", "body": "2", "delay_days": 1},
    ]
    campaign_id = create_campaign(client_all, [first, second], steps)
    add_lead(client_all, campaign_id, "ann@example.com")
    activate(client_all, campaign_id)
    run_engine()
    used = sink.received[0].mail_from
    gone = first if used == "first@sender.example" else second
    pause(client_all, campaign_id)
    assert client_all.delete(api_url(f"sender_accounts/{gone}")).status_code == 204
    activate(client_all, campaign_id)
    clock.shift(timedelta(days=1))
    run_engine()
    assert len(sink.received) == 2
    assert sink.received[1].mail_from != used
