"""JSON import rows with text PostgreSQL cannot store (NUL) are invalid rows, never a 500 (found
by the schema fuzzer's probes); the rest of the file is imported. A lone UTF-16 surrogate is not
valid Unicode text: the JSON parser refuses the whole body (400), as on every JSON operation."""

import pytest

from campaigns.models import Campaign
from leads.models import Lead
from tests.urls import api_url

ROWS = [
    '{"email": "a@b.io", "first_name": "A\\u0000"}',
    '{"email": "a@b.io", "custom_fields": {"k": "v\\u0000"}}',
]
SURROGATE_ROWS = [
    '{"email": "a@b.io", "company": "A\\ud800"}',
    '{"email": "a@b.io", "custom_fields": {"\\ud800": "v"}}',
    '{"email": "a\\ud800@b.io"}',
]


@pytest.mark.parametrize("row", ROWS)
def test_unstorable_text_is_an_invalid_row(client_all, workspace, row):
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    body = f'{{"campaign_id": "{campaign.pk}", "leads": [{row}, {{"email": "ok@b.io"}}]}}'
    response = client_all.post(api_url("leads/import"), body, content_type="application/json")
    assert response.status_code == 201
    report = response.json()
    assert (report["created"], report["duplicates"], report["invalid"]) == (1, 0, 1)
    assert report["errors"][0]["row"] == 1
    assert report["errors"][0]["error"] == (
        "Values may not contain NUL characters or invalid Unicode."
    )
    assert list(Lead.objects.values_list("email", flat=True)) == ["ok@b.io"]


@pytest.mark.parametrize("row", SURROGATE_ROWS)
def test_a_lone_surrogate_refuses_the_whole_body(client_all, workspace, row):
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    body = f'{{"campaign_id": "{campaign.pk}", "leads": [{row}, {{"email": "ok@b.io"}}]}}'
    response = client_all.post(api_url("leads/import"), body, content_type="application/json")
    assert response.status_code == 400
    assert "lone UTF-16 surrogate" in response.json()["detail"]
    assert not Lead.objects.exists()
