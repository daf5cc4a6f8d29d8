"""`POST campaigns/{id}/preview` (API.md §7): a step rendered exactly as it would be sent to a
lead (the given one, the campaign's oldest, or a lead with empty fields), the placeholders no
lead can fill and the `{{…}}` texts that are not placeholders; `leads:read` as well when a real
lead is rendered; nothing is written, and the preview's links record nothing."""

import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from campaigns.models import Campaign, CampaignStep
from delivery.models import Attempt, Message
from leads.models import Lead
from sender_accounts.models import SenderAccount
from tests.delivery_support import add_lead, create_account, create_campaign
from tests.urls import api_url

pytestmark = pytest.mark.usefixtures("delivery_settings")

UNSUBSCRIBE = re.compile(r"\n\nUnsubscribe: https://cold\.example\.com/u/[^\s]+\n\Z")
STEPS = [
    {"subject": "Hello {{first_name|there}}", "body": "Hi {{first_name|there}} at {{company}}!"},
    {"subject": "", "body": "Following up, {{first_name}}.", "delay_days": 2},
]


def preview(client, campaign_id: str, body: dict):
    return client.post(api_url(f"campaigns/{campaign_id}/preview"), body, format="json")


@pytest.fixture
def setup(client_all, sink) -> dict:
    account = create_account(client_all, sink)
    campaign = create_campaign(client_all, [account], STEPS)
    return {"account": account, "campaign": campaign}


def test_a_step_rendered_for_a_lead_with_fallbacks(client_all, setup):
    lead = add_lead(client_all, setup["campaign"], "Ada@Example.com", first_name="Ada")
    response = preview(client_all, setup["campaign"], {"step": 1, "lead_id": lead})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subject"] == "Hello Ada"
    assert body["body"].startswith("Hi Ada at !\n\nUnsubscribe: https://cold.example.com/u/")
    assert UNSUBSCRIBE.search(body["body"])
    assert body["headers"] == {
        "From": "Alice Sender <alice@sender.example>",
        "To": "ada@example.com",
        "Subject": "Hello Ada",
    }
    assert body["unknown_placeholders"] == []
    assert body["invalid_placeholders"] == []


def test_without_a_lead_the_oldest_lead_is_rendered(client_all, setup):
    add_lead(client_all, setup["campaign"], "first@example.com", first_name="First")
    add_lead(client_all, setup["campaign"], "second@example.com", first_name="Second")
    body = preview(client_all, setup["campaign"], {"step": 1}).json()
    assert body["subject"] == "Hello First"
    assert body["headers"]["To"] == "first@example.com"


def test_without_any_lead_an_empty_lead_shows_the_fallbacks(client_all, setup):
    body = preview(client_all, setup["campaign"], {"step": 1}).json()
    assert body["subject"] == "Hello there"
    assert body["body"].startswith("Hi there at !\n\nUnsubscribe: ")
    assert body["headers"] == {
        "From": "Alice Sender <alice@sender.example>",
        "To": "",
        "Subject": "Hello there",
    }


def test_an_empty_follow_up_subject_is_step_ones_with_re(client_all, setup):
    lead = add_lead(client_all, setup["campaign"], "ada@example.com", first_name="Ada")
    body = preview(client_all, setup["campaign"], {"step": 2, "lead_id": lead}).json()
    assert body["subject"] == "Re: Hello Ada"
    assert body["headers"] == {
        "From": "Alice Sender <alice@sender.example>",
        "To": "ada@example.com",
        "Subject": "Re: Hello Ada",
    }  # no thread headers
    assert body["body"].startswith("Following up, Ada.\n\nUnsubscribe: ")


def test_the_sender_is_the_leads_pinned_account_else_the_first_active(client_all, sink):
    first = create_account(client_all, sink, email="first@sender.example", display_name="")
    second = create_account(client_all, sink, email="second@sender.example", display_name="Bo")
    campaign = create_campaign(client_all, [second, first], STEPS)
    SenderAccount.objects.filter(pk=first).update(status=SenderAccount.Status.DISABLED)
    assert preview(client_all, campaign, {"step": 1}).json()["headers"]["From"] == (
        "Bo <second@sender.example>"
    )
    lead = add_lead(client_all, campaign, "ada@example.com")
    Lead.objects.filter(pk=lead).update(sender_account_id=first)
    answer = preview(client_all, campaign, {"step": 1, "lead_id": lead}).json()
    assert answer["headers"]["From"] == "first@sender.example"


def test_the_campaigns_settings_shape_the_body(client_all, sink):
    account = create_account(client_all, sink)
    steps = [{"subject": "Hi", "body": "See https://example.com/pricing now"}]
    campaign = create_campaign(client_all, [account], steps, include_unsubscribe_link=False)
    assert preview(client_all, campaign, {"step": 1}).json()["body"] == (
        "See https://example.com/pricing now\n"  # as sent: the text part ends its last line
    )
    Campaign.objects.filter(pk=campaign).update(tracking={"opens": True, "clicks": True})
    body = preview(client_all, campaign, {"step": 1}).json()["body"]
    assert re.fullmatch(r"See https://cold\.example\.com/c/\S+ now\n", body), body


def test_unknown_placeholders_are_named_in_exact_case(client_all, sink):
    account = create_account(client_all, sink)
    steps = [
        {"subject": "Hi {{firstname}} {{First_Name|you}}", "body": "{{Role}} at {{company}}"},
        {"subject": "", "body": "{{nickname|friend}} {{role}} {{firstname}} {{email}}"},
    ]
    campaign = create_campaign(client_all, [account], steps)
    add_lead(client_all, campaign, "a@example.com")
    add_lead(client_all, campaign, "b@example.com", custom_fields={"Role": "CTO"})
    body = preview(client_all, campaign, {"step": 1}).json()
    assert body["unknown_placeholders"] == ["firstname", "First_Name", "nickname", "role"]
    assert body["invalid_placeholders"] == []


def test_without_leads_every_custom_placeholder_is_unknown(client_all, sink):
    account = create_account(client_all, sink)
    steps = [{"subject": "Hi {{last_name}}", "body": "{{Role}} {{plan|free}}"}]
    campaign = create_campaign(client_all, [account], steps)
    body = preview(client_all, campaign, {"step": 1}).json()
    assert body["unknown_placeholders"] == ["Role", "plan"]


def test_texts_that_are_not_placeholders_are_listed_and_sent_as_written(client_all, sink):
    account = create_account(client_all, sink)
    steps = [
        {
            "subject": "Hi {{first name}}",
            "body": "{{}} {{ settings.SECRET_KEY }} {{a|b|c}} {{first name}} {{{{first_name}}}}",
        },
        {"subject": "{{x|y}z}}", "body": "{% debug %} {{"},
    ]
    campaign = create_campaign(client_all, [account], steps)
    add_lead(client_all, campaign, "ada@example.com", first_name="Ada")
    body = preview(client_all, campaign, {"step": 1}).json()
    assert body["invalid_placeholders"] == [
        "{{first name}}",
        "{{}}",
        "{{ settings.SECRET_KEY }}",
        "{{x|y}z}}",
    ]
    # `{{a|b|c}}` is a placeholder (`a`, with the fallback "b|c"); no lead has `a`.
    assert body["unknown_placeholders"] == ["a"]
    assert body["subject"] == "Hi {{first name}}"
    assert body["body"].startswith("{{}} {{ settings.SECRET_KEY }} b|c {{first name}} {{Ada}}")


def test_a_preview_writes_nothing_and_its_links_record_nothing(client_all, setup):
    lead = add_lead(client_all, setup["campaign"], "ada@example.com", first_name="Ada")
    Campaign.objects.filter(pk=setup["campaign"]).update(tracking={"opens": True, "clicks": True})
    counts = (Attempt.objects.count(), Message.objects.count(), AuditEvent.objects.count())
    body = preview(client_all, setup["campaign"], {"step": 1, "lead_id": lead}).json()
    assert (Attempt.objects.count(), Message.objects.count(), AuditEvent.objects.count()) == counts
    link = re.search(r"https://cold\.example\.com(/u/\S+)", body["body"]).group(1)
    public = Client(enforce_csrf_checks=True)
    assert public.get(link).status_code == 404
    assert public.post(link).status_code == 404
    assert client_all.get(api_url(f"leads/{lead}")).json()["status"] == "PENDING"


# Keys and scopes


def refusal(required: list[str], granted: list[str], missing: list[str]) -> dict:
    return {
        "detail": f"Missing required scopes: {', '.join(missing)}",
        "required": required,
        "granted": granted,
    }


def test_rendering_a_named_lead_needs_leads_read_too(make_client, client_all, setup):
    lead = add_lead(client_all, setup["campaign"], "ada@example.com")
    body = {"step": 1, "lead_id": lead}
    only_campaigns = preview(make_client(["campaigns:read"]), setup["campaign"], body)
    assert only_campaigns.status_code == 403
    assert only_campaigns.json() == refusal(
        ["campaigns:read", "leads:read"], ["campaigns:read"], ["leads:read"]
    )
    only_leads = preview(make_client(["leads:all"]), setup["campaign"], body)
    assert only_leads.status_code == 403
    assert only_leads.json() == refusal(
        ["campaigns:read", "leads:read"], ["leads:all"], ["campaigns:read"]
    )
    neither = preview(make_client(["sender_accounts:read"]), setup["campaign"], body)
    assert neither.json() == refusal(
        ["campaigns:read", "leads:read"],
        ["sender_accounts:read"],
        ["campaigns:read", "leads:read"],
    )
    both = preview(make_client(["campaigns:read", "leads:read"]), setup["campaign"], body)
    assert both.status_code == 200, both.content


def test_the_oldest_lead_needs_leads_read_too_an_empty_one_does_not(make_client, client_all, setup):
    client = make_client(["campaigns:read"])
    assert preview(client, setup["campaign"], {"step": 1}).status_code == 200
    add_lead(client_all, setup["campaign"], "ada@example.com")
    refused = preview(client, setup["campaign"], {"step": 1})
    assert refused.status_code == 403
    assert refused.json() == refusal(
        ["campaigns:read", "leads:read"], ["campaigns:read"], ["leads:read"]
    )


def test_403_comes_before_404_and_400(make_client, client_all, setup, foreign_campaign):
    client = make_client(["campaigns:read"])
    for campaign in (foreign_campaign.pk, setup["campaign"]):
        refused = preview(client, campaign, {"step": 0, "lead_id": "nope", "bogus": 1})
        assert refused.status_code == 403
        assert refused.json()["required"] == ["campaigns:read", "leads:read"]
    refused = client.post(
        api_url(f"campaigns/{foreign_campaign.pk}/preview"),
        b'{"lead_id": ',
        content_type="application/json",
    )
    assert refused.status_code == 404


def test_another_workspaces_campaign_is_404(client_all, foreign_campaign):
    CampaignStep.objects.create(campaign=foreign_campaign, position=0, subject="S", body="B")
    response = preview(client_all, foreign_campaign.pk, {"step": 1})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# Bad input


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"step": 0}, {"step": ["Ensure this value is greater than or equal to 1."]}),
        ({"step": 3}, {"step": ["Must be a step of this campaign: 1 to 2."]}),
        ({"step": 21}, {"step": ["Ensure this value is less than or equal to 20."]}),
        ({"step": "1"}, {"step": ["Must be an integer."]}),
        ({"step": None}, {"step": ["This field may not be null."]}),
        ({}, {"step": ["This field is required."]}),
        ({"step": 1, "bogus": True}, {"bogus": ["Unknown field."]}),
        ({"step": 1, "lead_id": "nope"}, {"lead_id": ["Must be a valid UUID."]}),
        ({"step": 1, "lead_id": None}, {"lead_id": ["This field may not be null."]}),
        (
            {"step": 9, "lead_id": "00000000-0000-0000-0000-000000000000"},
            {
                "step": ["Must be a step of this campaign: 1 to 2."],
                "lead_id": ["No lead with this id in this campaign."],
            },
        ),
    ],
)
def test_bad_input_is_a_400(client_all, setup, body, errors):
    response = preview(client_all, setup["campaign"], body)
    assert response.status_code == 400
    assert response.json() == errors


def test_a_lead_of_another_campaign_or_workspace_is_a_400(
    client_all, setup, make_client, other_workspace, sink
):
    other_campaign = create_campaign(client_all, [setup["account"]], STEPS)
    mine = add_lead(client_all, other_campaign, "ada@example.com")
    theirs_client = make_client(["*"], ws=other_workspace)
    theirs_campaign = create_campaign(theirs_client, [], STEPS)
    theirs = add_lead(theirs_client, theirs_campaign, "bob@example.com")
    for lead in (mine, theirs):
        response = preview(client_all, setup["campaign"], {"step": 1, "lead_id": lead})
        assert response.status_code == 400
        assert response.json() == {"lead_id": ["No lead with this id in this campaign."]}


def test_a_campaign_without_steps_has_nothing_to_preview(client_all, sink):
    campaign = create_campaign(client_all, [])
    CampaignStep.objects.filter(campaign_id=campaign).delete()
    response = preview(client_all, campaign, {"step": 1})
    assert response.status_code == 400
    assert response.json() == {"step": ["The campaign has no step."]}


def test_a_body_that_is_not_json_is_refused_after_the_key(client_all, setup):
    url = api_url(f"campaigns/{setup['campaign']}/preview")
    assert client_all.post(url, b"{", content_type="application/json").status_code == 400
    assert client_all.post(url, b"step=1", content_type="text/plain").status_code == 415
    assert client_all.post(url, [1], format="json").status_code == 400
