"""Leads in the Django admin: search by email, filters by status, campaign and workspace, a
query count that does not grow with the page, and adds that keep the API's rules."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from leads.models import Lead
from tests.factories import make_lead

CHANGELIST = "/admin/leads/lead/"
ADD = "/admin/leads/lead/add/"


def listed(response) -> list[str]:
    assert response.status_code == 200
    return sorted(lead.email for lead in response.context["cl"].result_list)


@pytest.fixture
def leads(campaign, foreign_campaign) -> None:
    make_lead(campaign, email="ada@example.com")
    make_lead(campaign, email="grace@example.com", status=Lead.Status.REPLIED)
    make_lead(foreign_campaign, email="ada@example.com.au")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ada@example.com", ["ada@example.com"]),  # a full address matches exactly
        ("  ADA@Example.com ", ["ada@example.com"]),
        ("ada", ["ada@example.com", "ada@example.com.au"]),  # otherwise part of it
        ("EXAMPLE.COM", ["ada@example.com", "ada@example.com.au", "grace@example.com"]),
        ("nobody", []),
    ],
)
def test_search_by_email(superuser_client, leads, query, expected):
    assert listed(superuser_client.get(CHANGELIST, {"q": query})) == expected


def test_filters(superuser_client, leads, campaign, other_workspace):
    assert listed(superuser_client.get(CHANGELIST, {"status__exact": "REPLIED"})) == [
        "grace@example.com"
    ]
    assert listed(superuser_client.get(CHANGELIST, {"campaign__id__exact": campaign.pk})) == [
        "ada@example.com",
        "grace@example.com",
    ]
    assert listed(
        superuser_client.get(CHANGELIST, {"workspace__id__exact": other_workspace.pk})
    ) == ["ada@example.com.au"]


def test_changelist_columns(superuser_client, leads):
    response = superuser_client.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    for column in ("column-email", "column-campaign", "column-status", "column-created_at"):
        assert column in content
    assert "Spring outreach" in content


def test_changelist_queries_do_not_grow_with_the_page(superuser_client, campaign):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert superuser_client.get(CHANGELIST).status_code == 200
        return len(queries)

    make_lead(campaign, email="lead0@example.com")
    one = queries_for_page()
    for i in range(1, 40):
        make_lead(
            Campaign.objects.create(workspace=campaign.workspace, name=f"C{i}"),
            email=f"lead{i}@example.com",
        )
    forty = queries_for_page()

    # The campaign filter lists campaigns in one query whatever their number.
    assert forty == one


def test_add_normalises_the_email_and_takes_the_campaigns_workspace(
    superuser_client, foreign_campaign, other_workspace
):
    response = superuser_client.post(
        ADD,
        {
            "campaign": foreign_campaign.pk,
            "email": " Ada@Example.COM ",
            "first_name": "Ada",
            "last_name": "",
            "company": "",
            "custom_fields": '{"title": "Countess"}',
            "status": "PENDING",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    lead = Lead.objects.get()
    assert lead.email == "ada@example.com"
    assert lead.workspace_id == other_workspace.pk
    assert lead.custom_fields == {"title": "Countess"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-email"),
        ("email", "ADA@example.com"),  # already in the campaign
        ("custom_fields", '{"age": 42}'),
        ("custom_fields", '["a"]'),
    ],
)
def test_add_refuses_what_the_api_refuses(superuser_client, campaign, field, value):
    make_lead(campaign, email="ada@example.com")
    data = {
        "campaign": campaign.pk,
        "email": "grace@example.com",
        "first_name": "",
        "last_name": "",
        "company": "",
        "custom_fields": "{}",
        "status": "PENDING",
        field: value,
    }

    response = superuser_client.post(ADD, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Lead.objects.count() == 1
