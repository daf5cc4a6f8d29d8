"""The rate limit is a sliding window (API.md §3): what passed in the previous fixed window still
counts, in proportion to how much of it overlaps the last period. No burst of twice the limit
across a window boundary; the allowance comes back gradually. Clock moved with time-machine."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.test import override_settings

from tests.urls import api_url

# 12:00:00 UTC is a window boundary for every period up to a day.
BOUNDARY = datetime(2030, 1, 7, 12, 0, 0, tzinfo=UTC)


def statuses(client, count: int) -> list[int]:
    return [client.get(api_url("me")).status_code for _ in range(count)]


@override_settings(RATE_LIMITS={"default": "10/minute", "import": "30/minute"})
def test_at_most_the_limit_passes_in_a_second_across_a_boundary(make_client):
    client = make_client(["*"])
    with time_machine.travel(BOUNDARY - timedelta(seconds=0.5), tick=False) as clock:
        assert statuses(client, 10) == [200] * 10
        clock.move_to(BOUNDARY + timedelta(seconds=0.4))
        # A fixed window would let 10 more through here: 20 in 0.9 seconds.
        assert statuses(client, 10) == [429] * 10


@override_settings(RATE_LIMITS={"default": "10/minute", "import": "30/minute"})
def test_the_allowance_comes_back_as_the_previous_window_slides_out(make_client):
    client = make_client(["*"])
    with time_machine.travel(BOUNDARY - timedelta(seconds=1), tick=False) as clock:
        assert statuses(client, 10) == [200] * 10
        clock.move_to(BOUNDARY + timedelta(seconds=30))  # half of the previous window counts
        assert statuses(client, 5) == [200] * 5
        refused = client.get(api_url("me"))
        assert refused.status_code == 429
        # one more fits once 6 of the previous 10 have slid out: 36 s into the window
        assert refused["Retry-After"] == "6"
        assert refused.json() == {"detail": "Rate limit exceeded. Retry after 6 seconds."}
        assert refused["X-RateLimit-Remaining"] == "0"
        clock.move_to(BOUNDARY + timedelta(seconds=35))
        assert client.get(api_url("me")).status_code == 429
        clock.move_to(BOUNDARY + timedelta(seconds=36))
        assert client.get(api_url("me")).status_code == 200


@override_settings(RATE_LIMITS={"default": "4/minute", "import": "30/minute"})
def test_refused_requests_do_not_use_up_the_allowance(make_client):
    client = make_client(["*"])
    with time_machine.travel(BOUNDARY + timedelta(seconds=10), tick=False) as clock:
        assert statuses(client, 4) == [200] * 4
        hammering = statuses(client, 50)
        assert hammering == [429] * 50
        retry_after = int(client.get(api_url("me"))["Retry-After"])
        # 4 in this window: in the next one a request fits once a quarter of them slid out
        assert retry_after == 50 + 15
        clock.shift(retry_after)
        assert client.get(api_url("me")).status_code == 200


@override_settings(RATE_LIMITS={"default": "5/minute", "import": "30/minute"})
def test_headers_say_what_is_left_and_when_all_of_it_is_back(make_client):
    client = make_client(["*"])
    start = int(BOUNDARY.timestamp())
    with time_machine.travel(BOUNDARY + timedelta(seconds=20), tick=False) as clock:
        first = client.get(api_url("me"))
        assert (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("5", "4")
        # requests of this window still weigh until the end of the next one
        assert first["X-RateLimit-Reset"] == str(start + 120)
        assert statuses(client, 3) == [200] * 3
        clock.move_to(BOUNDARY + timedelta(seconds=60 + 30))  # 4 made, half of them still weigh
        response = client.get(api_url("me"))
        assert response["X-RateLimit-Remaining"] == "2"  # 5 - (4 x 0.5 + 1)
        assert response["X-RateLimit-Reset"] == str(start + 180)
        clock.move_to(BOUNDARY + timedelta(seconds=180))
        assert client.get(api_url("me"))["X-RateLimit-Remaining"] == "4"
