"""The sender account's sending fields over HTTP (API.md §5, §7 "New fields"): the pacing gap
`min_interval_seconds`/`max_interval_seconds`, read-only `status` (ACTIVE | DISABLED | ERROR) and
`last_error`, and `stats` counted from what the engine really sent to a real SMTP server."""

from datetime import timedelta

import pytest

from sender_accounts.models import SenderAccount
from tests.delivery_support import (
    PASSWORD,
    USERNAME,
    activate,
    add_leads,
    create_campaign,
    run_engine,
)

URL = "/api/public/v1/sender_accounts"


def smtp_body(sink=None, **fields) -> dict:
    return {
        "type": "SMTP",
        "email": fields.pop("email", "alice@sender.example"),
        "smtp": {
            "host": "127.0.0.1",
            "port": sink.port if sink else 2525,
            "username": USERNAME,
            "password": fields.pop("password", PASSWORD),
            "security": "NONE",
        },
        **fields,
    }


def test_intervals_default_to_180_and_300(client_all):
    response = client_all.post(URL, {"type": "NATIVE", "email": "a@example.com"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["min_interval_seconds"], body["max_interval_seconds"]) == (180, 300)
    assert (body["status"], body["last_error"]) == ("ACTIVE", "")
    stored = SenderAccount.objects.get()
    assert (stored.min_interval_seconds, stored.max_interval_seconds) == (180, 300)


@pytest.mark.parametrize(("low", "high"), [(0, 0), (0, 86400), (60, 60), (86400, 86400)])
def test_intervals_are_stored_and_read_back(client_all, low, high):
    body = smtp_body(min_interval_seconds=low, max_interval_seconds=high)

    created = client_all.post(URL, body, format="json")

    assert created.status_code == 201, created.content
    account_id = created.json()["id"]
    for data in (
        created.json(),
        client_all.get(f"{URL}/{account_id}").json(),
        client_all.get(URL).json()["results"][0],
    ):
        assert (data["min_interval_seconds"], data["max_interval_seconds"]) == (low, high)
    stored = SenderAccount.objects.get(pk=account_id)
    assert (stored.min_interval_seconds, stored.max_interval_seconds) == (low, high)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"min_interval_seconds": 301},  # over the default maximum
            {"max_interval_seconds": ["Must be at least min_interval_seconds."]},
        ),
        (
            {"min_interval_seconds": 10, "max_interval_seconds": 9},
            {"max_interval_seconds": ["Must be at least min_interval_seconds."]},
        ),
        (
            {"min_interval_seconds": -1},
            {"min_interval_seconds": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            {"max_interval_seconds": 86401},
            {"max_interval_seconds": ["Ensure this value is less than or equal to 86400."]},
        ),
        ({"min_interval_seconds": "5"}, {"min_interval_seconds": ["Must be an integer."]}),
        ({"max_interval_seconds": 1.5}, {"max_interval_seconds": ["Must be an integer."]}),
        ({"max_interval_seconds": None}, {"max_interval_seconds": ["This field may not be null."]}),
        ({"status": "ERROR"}, {"status": ["This field is read-only."]}),
        ({"last_error": "x"}, {"last_error": ["This field is read-only."]}),
    ],
)
def test_bad_pacing_input_is_400_and_creates_nothing(client_all, fields, errors):
    response = client_all.post(URL, smtp_body(**fields), format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not SenderAccount.objects.exists()


def test_stats_count_real_sends_over_a_rolling_24_hours(client_all, sink, clock, delivery_settings):
    created = client_all.post(
        URL,
        smtp_body(sink, min_interval_seconds=0, max_interval_seconds=0, daily_limit=100),
        format="json",
    )
    account_id = created.json()["id"]
    sink.reject.add("refused@example.com")
    campaign_id = create_campaign(client_all, [account_id])
    emails = ["ann@example.com", "bob@example.com", "refused@example.com"]
    add_leads(client_all, campaign_id, [{"email": e} for e in emails])
    activate(client_all, campaign_id)
    run_engine()
    assert len(sink.received) == 2

    stats = client_all.get(f"{URL}/{account_id}").json()["stats"]
    # Three SMTP attempts count against the daily limit; two were accepted, one bounced.
    assert stats == {"sent_today": 3, "sent_total": 2, "bounced": 1}

    clock.shift(timedelta(hours=23, minutes=59))
    assert client_all.get(f"{URL}/{account_id}").json()["stats"]["sent_today"] == 3
    clock.shift(timedelta(minutes=1))  # rolling: 24 hours after the sends, not at midnight
    assert client_all.get(f"{URL}/{account_id}").json()["stats"] == {
        "sent_today": 0,
        "sent_total": 2,
        "bounced": 1,
    }


def test_a_refused_login_shows_status_error_and_a_secret_free_last_error(
    client_all, sink, clock, delivery_settings
):
    created = client_all.post(
        URL, smtp_body(sink, min_interval_seconds=0, max_interval_seconds=0), format="json"
    )
    account_id = created.json()["id"]
    sink.handler.refuse_auth = True
    campaign_id = create_campaign(client_all, [account_id])
    add_leads(client_all, campaign_id, [{"email": "ann@example.com"}])
    activate(client_all, campaign_id)
    run_engine()

    response = client_all.get(f"{URL}/{account_id}")
    body = response.json()
    assert body["status"] == "ERROR"
    assert body["last_error"]
    assert PASSWORD not in body["last_error"]
    assert PASSWORD.encode() not in response.content
    listed = client_all.get(URL).json()["results"][0]
    assert (listed["status"], listed["last_error"]) == ("ERROR", body["last_error"])
    assert sink.received == []
