"""Placeholders: `{{name}}` and `{{name|fallback}}` for the lead's fields and custom fields;
nothing else is a template language."""

import pytest

from delivery.placeholders import render
from tests.delivery_support import activate, add_leads, create_account, create_campaign, run_engine

pytestmark = pytest.mark.usefixtures("delivery_settings")

VALUES = {
    "first_name": "Ann",
    "last_name": "",
    "company": "Acme",
    "email": "ann@example.com",
    "plan": "gold",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{first_name}}", "Hi Ann"),
        ("Hi {{ first_name }}", "Hi Ann"),
        ("Hi {{last_name|there}}", "Hi there"),
        ("Hi {{last_name}}!", "Hi !"),
        ("{{company}} / {{email}}", "Acme / ann@example.com"),
        ("Your {{plan}} plan", "Your gold plan"),
        ("{{unknown}}", ""),
        ("{{unknown|friend}}", "friend"),
        ("{% debug %}", "{% debug %}"),
        ("{{ settings.SECRET_KEY }}", "{{ settings.SECRET_KEY }}"),
        ("{{ first_name.upper }}", "{{ first_name.upper }}"),
        ("{{first_name|lower}}", "Ann"),  # a fallback, never a filter
        ("{% load static %}{{ request }}", "{% load static %}"),
        ("{{{{first_name}}}}", "{{Ann}}"),
    ],
)
def test_rendering(template, expected):
    assert render(template, VALUES) == expected


def test_values_are_inserted_as_text_never_rendered_again():
    assert render("{{first_name}}", {"first_name": "{{email}} {% debug %}", "email": "x"}) == (
        "{{email}} {% debug %}"
    )


def test_hostile_templates_and_values_reach_the_recipient_as_text(
    client_all, sink, clock, settings
):
    account = create_account(client_all, sink)
    steps = [
        {
            "subject": "{{first_name|there}} {{ settings.SECRET_KEY }}",
            "body": "{% debug %}\n{{company|your company}} {{plan}} {{missing|n/a}}",
            "delay_days": 0,
        }
    ]
    campaign_id = create_campaign(client_all, [account], steps)
    add_leads(
        client_all,
        campaign_id,
        [
            {"email": "a@example.com", "first_name": "Zoë", "custom_fields": {"plan": "{{email}}"}},
            {"email": "b@example.com", "company": "{% csrf_token %}"},
        ],
    )
    activate(client_all, campaign_id)
    run_engine()

    by_rcpt = {r.rcpt_tos[0]: r.message for r in sink.received}
    by_body = {r.rcpt_tos[0]: r.body for r in sink.received}
    a, b = by_rcpt["a@example.com"], by_rcpt["b@example.com"]
    assert a["Subject"] == "Zoë {{ settings.SECRET_KEY }}"
    assert b["Subject"] == "there {{ settings.SECRET_KEY }}"
    assert by_body["a@example.com"].startswith("{% debug %}\nyour company {{email}} n/a\n")
    assert by_body["b@example.com"].startswith("{% debug %}\n{% csrf_token %}  n/a\n")
    for message in (a, b):
        assert settings.SECRET_KEY not in message.as_string()
