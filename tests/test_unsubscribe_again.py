"""An unsubscribe link opened again (API.md §8): for a lead already unsubscribed, `GET /u/TOKEN`
says it is done instead of asking again, and still changes nothing."""

import pytest
from django.test import Client

from tests.tracking_support import lead_of, links_in, parts, send_campaign, stats_of

pytestmark = pytest.mark.usefixtures("delivery_settings")


@pytest.fixture
def public() -> Client:
    """A browser or mail client: no key, no cookie, CSRF checks on."""
    return Client(enforce_csrf_checks=True)


def unsubscribe_link(sink, address: str = "ann@example.com") -> str:
    [link] = links_in(parts(sink.to(address)[0])["text/plain"], "u")
    return link


def test_a_link_opened_again_says_it_is_done(public, client_all, sink, clock):
    campaign_id = send_campaign(client_all, sink)
    link = unsubscribe_link(sink)

    asked = public.get(link)
    assert b"Stop receiving emails" in asked.content
    assert asked.content.count(b"<button") == 1

    public.post(link)
    again = public.get(link)

    assert again.status_code == 200
    assert again["Content-Type"].startswith("text/html")
    assert b"You are unsubscribed" in again.content
    assert b"Stop receiving emails" not in again.content
    assert b"<button" not in again.content
    assert b"<form" not in again.content
    assert lead_of(client_all, campaign_id, "ann@example.com")["status"] == "UNSUBSCRIBED"
    assert stats_of(client_all, campaign_id)["unsubscribed"] == 1


def test_other_leads_of_the_campaign_are_still_asked(public, client_all, sink, clock):
    send_campaign(client_all, sink, emails=("ann@example.com", "bob@example.com"))
    public.post(unsubscribe_link(sink, "ann@example.com"))

    asked = public.get(unsubscribe_link(sink, "bob@example.com"))

    assert b"Stop receiving emails" in asked.content
    assert b"You are unsubscribed" not in asked.content
