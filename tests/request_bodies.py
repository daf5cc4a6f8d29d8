"""Request bodies for the API: a campaign's JSON."""

from typing import Any


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Spring outreach",
        "daily_limit": 120,
        "schedule": {
            "timezone": "Europe/Berlin",
            "days": [1, 2, 3],
            "start_time": "08:30",
            "end_time": "16:45",
        },
        "steps": [
            {"subject": "Hello", "body": "First email", "delay_days": 0},
            {"subject": "Following up", "body": "Second email", "delay_days": 3},
        ],
        "stop_on_reply": False,
    }
    body.update(overrides)
    return body
