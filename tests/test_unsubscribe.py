"""Unsubscribe links (API.md §7, §8): GET shows one button and changes nothing; POST (the form,
or RFC 8058 one-click) unsubscribes the lead, stops its sequence and suppresses the address in
the workspace, once, whatever the repeats; tokens never expire."""

from datetime import timedelta

import pytest
from django.test import Client

from leads.models import Lead
from tests.delivery_support import add_lead, create_account, leads_of, run_engine
from tests.tracking_support import lead_of, links_in, parts, send_campaign, stats_of

pytestmark = pytest.mark.usefixtures("delivery_settings")

STEPS = [
    {"subject": "One", "body": "First", "delay_days": 0},
    {"subject": "", "body": "Second", "delay_days": 2},
]


@pytest.fixture
def public() -> Client:
    """A browser or mail client: no key, no cookie, CSRF checks on."""
    return Client(enforce_csrf_checks=True)


def next_send_at(campaign_id: str):
    # `next_send_at` is not in the lead's API answer on this branch yet.
    return Lead.objects.get(campaign_id=campaign_id).next_send_at


def unsubscribe_link(sink, address: str = "ann@example.com") -> str:
    received = sink.to(address)[0]
    [link] = links_in(parts(received)["text/plain"], "u")
    header = received.message["List-Unsubscribe"]
    assert header == f"<https://cold.example.com{link}>"
    return link


def test_get_shows_one_button_and_changes_nothing(public, client_all, sink, clock):
    campaign_id = send_campaign(client_all, sink, steps=STEPS)
    link = unsubscribe_link(sink)

    response = public.get(link)
    public.head(link)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert response.content.count(b"<button") == 1
    assert b'method="post"' in response.content
    assert "Set-Cookie" not in response
    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "CONTACTED"
    assert next_send_at(campaign_id) is not None
    assert stats_of(client_all, campaign_id)["unsubscribed"] == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"List-Unsubscribe": "One-Click"}, id="rfc8058-one-click"),
        pytest.param({}, id="the-page-form"),
    ],
)
def test_post_unsubscribes_and_stops_the_sequence(public, client_all, sink, clock, body):
    campaign_id = send_campaign(client_all, sink, steps=STEPS)

    response = public.post(unsubscribe_link(sink), body)

    assert response.status_code == 200
    assert b"unsubscribed" in response.content
    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "UNSUBSCRIBED"
    assert next_send_at(campaign_id) is None
    stats = stats_of(client_all, campaign_id)
    assert (stats["unsubscribed"], stats["leads_by_status"]["UNSUBSCRIBED"]) == (1, 1)

    clock.shift(timedelta(days=3))
    run_engine()
    assert len(sink.to("ann@example.com")) == 1  # step 2 never goes


def test_repeating_it_is_harmless_and_the_token_never_expires(public, client_all, sink, clock):
    campaign_id = send_campaign(client_all, sink, steps=STEPS)
    link = unsubscribe_link(sink)
    public.post(link, {"List-Unsubscribe": "One-Click"})

    clock.shift(timedelta(days=3650))
    answers = [public.post(link, {"List-Unsubscribe": "One-Click"}) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert public.get(link).status_code == 200
    assert stats_of(client_all, campaign_id)["unsubscribed"] == 1
    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "UNSUBSCRIBED"


def test_the_address_is_suppressed_in_the_workspace_only(
    public, client_all, make_client, other_workspace, sink, clock
):
    campaign_id = send_campaign(client_all, sink, steps=STEPS)
    public.post(unsubscribe_link(sink), {"List-Unsubscribe": "One-Click"})
    sink.received.clear()

    account_id = create_account(client_all, sink, email="bob@sender.example")
    second = send_campaign(client_all, sink, emails=(), account_id=account_id, name="Second")
    add_lead(client_all, second, "ANN@example.com")
    other_client = make_client(["*"], other_workspace)
    elsewhere = send_campaign(other_client, sink, emails=("ann@example.com",), name="Globex")
    run_engine()

    assert leads_of(client_all, second)["ann@example.com"]["status"] == "UNSUBSCRIBED"
    assert leads_of(other_client, elsewhere)["ann@example.com"]["status"] == "COMPLETED"
    [received] = sink.to("ann@example.com")  # only the other workspace's message
    assert Lead.objects.get(campaign_id=second).current_step == 0
    assert received.message["From"].addresses[0].addr_spec == "alice@sender.example"
    assert stats_of(client_all, campaign_id)["unsubscribed"] == 1


def test_unsubscribe_of_an_unknown_or_forged_token_is_404_and_changes_nothing(
    public, client_all, sink, clock
):
    campaign_id = send_campaign(client_all, sink, steps=STEPS)
    link = unsubscribe_link(sink)

    for path in (link[:-3], link + "x", "/u/", "/u/nothing.here"):
        assert public.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 404, path

    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "CONTACTED"
    assert public.put(link).status_code == 405
