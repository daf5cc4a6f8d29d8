"""Opens written in batches (TRACKING_FLUSH_SECONDS > 0): the pixel answers at once, the
process writes what it noted in one statement, merging repeats of a message within 10
seconds, and nothing is written for a campaign that does not track opens."""

from datetime import timedelta

import pytest

from inbound import hits
from tests.tracking_support import links_in, parts, send_campaign, stats_of

pytestmark = pytest.mark.usefixtures("delivery_settings")


@pytest.fixture
def batched(settings):
    settings.TRACKING_FLUSH_SECONDS = 3600  # only the explicit flush below writes
    hits.flush()
    yield
    hits.flush()


def test_opens_are_written_by_the_flush_with_repeats_merged(
    client, client_all, sink, clock, batched
):
    campaign_id = send_campaign(
        client_all, sink, emails=("ann@example.com", "bob@example.com"), tracking={"opens": True}
    )
    ann, bob = (
        links_in(parts(sink.to(address)[0])["text/html"], "o")[0]
        for address in ("ann@example.com", "bob@example.com")
    )
    for path in (ann, ann, bob):
        response = client.get(path)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
    clock.shift(timedelta(seconds=10))
    client.get(ann)
    assert stats_of(client_all, campaign_id)["opened"] == 0  # not written yet

    assert hits.flush() == 4

    stats = stats_of(client_all, campaign_id)
    assert (stats["opened"], stats["open_rate"]) == (3, 1.0)  # ann twice (10 s apart), bob
    client.get(ann)  # a repeat of the open just written: merged across batches too
    hits.flush()
    assert stats_of(client_all, campaign_id)["opened"] == 3


def test_a_campaign_not_tracking_opens_gets_none(client, client_all, sink, clock, batched):
    from delivery.models import Message
    from delivery.tokens import sign

    campaign_id = send_campaign(client_all, sink, tracking={"opens": False})
    message = Message.objects.get(campaign_id=campaign_id)

    assert client.get(f"/o/{sign('open', message.pk)}.gif").status_code == 200
    hits.flush()

    assert stats_of(client_all, campaign_id)["opened"] == 0
