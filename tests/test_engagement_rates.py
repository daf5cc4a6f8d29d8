"""Every event counts once in `stats`, analytics and the lead's `engagement`, and the rates
count leads (API.md §8): open_rate = leads with at least one OPENED / leads with at least one
SENT, the same for clicks, replies and bounces — also when opens race."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from tests.delivery_support import api_url, run_engine
from tests.tracking_support import lead_of, links_in, parts, send_campaign, stats_of

pytestmark = pytest.mark.usefixtures("delivery_settings")

TRACK_ALL = {"opens": True, "clicks": True}
STEPS = [
    {"subject": "Hello", "body": "Look: https://shop.example.com/a", "delay_days": 0},
    {"subject": "", "body": "Again: https://shop.example.com/b", "delay_days": 1},
]
LEADS = ("ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com")


def pixel(sink, address: str, index: int = 0) -> str:
    [link] = links_in(parts(sink.to(address)[index])["text/html"], "o")
    return link


def click(sink, address: str, index: int = 0) -> str:
    return links_in(parts(sink.to(address)[index])["text/plain"], "c")[0]


def test_a_lead_opening_five_times_is_one_lead_in_the_rate(client, client_all, sink, clock):
    campaign_id = send_campaign(client_all, sink, emails=LEADS, tracking=TRACK_ALL, steps=STEPS)
    for _ in range(5):
        client.get(pixel(sink, "ann@example.com"))
        clock.shift(timedelta(seconds=11))
    client.get(pixel(sink, "bob@example.com"))
    client.get(click(sink, "ann@example.com"))

    stats = stats_of(client_all, campaign_id)
    assert (stats["sent"], stats["opened"], stats["clicked"]) == (4, 6, 1)
    assert (stats["open_rate"], stats["click_rate"]) == (0.5, 0.25)  # 2 and 1 leads of 4
    assert lead_of(client_all, campaign_id, "ann@example.com")["engagement"] == {
        **lead_of(client_all, campaign_id, "ann@example.com")["engagement"],
        "sent": 1,
        "opened": 5,
        "clicked": 1,
    }
    analytics = client_all.get(
        api_url(f"campaigns/{campaign_id}/analytics?from=2026-03-04&to=2026-03-04")
    ).json()
    assert analytics["totals"]["opened"] == 6
    assert analytics["rates"]["open_rate"] == 0.5
    assert analytics["rates"]["click_rate"] == 0.25


def test_follow_ups_do_not_make_a_lead_count_twice(client, client_all, sink, clock):
    campaign_id = send_campaign(client_all, sink, emails=LEADS, tracking=TRACK_ALL, steps=STEPS)
    clock.shift(timedelta(days=1, seconds=1))
    run_engine()
    assert len(sink.to("ann@example.com")) == 2
    client.get(pixel(sink, "ann@example.com", 0))
    client.get(pixel(sink, "ann@example.com", 1))

    stats = stats_of(client_all, campaign_id)
    assert (stats["sent"], stats["opened"]) == (8, 2)
    assert stats["open_rate"] == 0.25  # one lead of the four


@pytest.mark.django_db(transaction=True)
def test_racing_first_opens_of_one_lead_count_one_lead(make_client, sink, clock):
    client_all = make_client(["*"])
    campaign_id = send_campaign(client_all, sink, emails=LEADS, tracking=TRACK_ALL, steps=STEPS)
    clock.shift(timedelta(days=1, seconds=1))
    run_engine()
    # Each lead's two messages opened at once, from two threads each: four first opens race
    # per lead, two of them for different messages (so not merged as repeats).
    paths = [pixel(sink, address, i) for address in LEADS[:3] for i in (0, 1)] * 2
    barrier = threading.Barrier(len(paths))
    answers, errors = [], []

    def open_pixel(path: str) -> None:
        try:
            barrier.wait(timeout=30)
            answers.append(Client().get(path).status_code)
        except Exception as exc:  # reported by the assertion below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=open_pixel, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert answers == [200] * len(paths)
    stats = stats_of(client_all, campaign_id)
    assert stats["opened"] == 6  # two messages of three leads; each repeat merged
    assert stats["open_rate"] == 0.75  # three leads of four
