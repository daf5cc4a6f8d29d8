"""Lead lists (API.md §4): cursor pagination, `?limit=` bounds, newest first, every lead exactly
once in both directions, and stable pages while new leads arrive."""

from urllib.parse import parse_qs, urlparse

import pytest

from campaigns.models import Campaign
from leads.models import Lead
from tests.urls import api_url

LEADS = api_url("leads")


def add_leads(campaign: Campaign, count: int, start: int = 0) -> list[str]:
    """Create `count` leads one by one (ids are time-ordered); return their ids, oldest first."""
    return [
        str(
            Lead.objects.create(
                workspace_id=campaign.workspace_id, campaign=campaign, email=f"lead{i}@example.com"
            ).pk
        )
        for i in range(start, start + count)
    ]


def get_page(client, url: str, params: dict | None = None) -> dict:
    response = client.get(url, params)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    return body


def ids(page: dict) -> list[str]:
    return [lead["id"] for lead in page["results"]]


def test_default_limit_is_25(client_all, campaign):
    created = add_leads(campaign, 30)

    page = get_page(client_all, LEADS)

    assert ids(page) == list(reversed(created))[:25]
    assert page["previous"] is None
    assert page["next"] is not None


def test_limit_up_to_100(client_all, campaign):
    created = add_leads(campaign, 101)

    page = get_page(client_all, LEADS, {"limit": 100})
    small = get_page(client_all, LEADS, {"limit": 1})

    assert ids(page) == list(reversed(created))[:100]
    assert ids(small) == [created[-1]]
    assert parse_qs(urlparse(page["next"]).query)["limit"] == ["100"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "", "1.5", "1e2"])
def test_limit_out_of_bounds_is_a_400(client_all, campaign, limit):
    add_leads(campaign, 3)

    response = client_all.get(LEADS, {"limit": limit})

    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == ["limit"]
    assert errors["limit"]


# Besides "abc" (not base64), well-formed cursors whose position is no id: "p=1", "o=1&p=zz",
# "p=12345678-1234".
@pytest.mark.parametrize("cursor", ["abc", "cD0x", "bz0xJnA9eno=", "cD0xMjM0NTY3OC0xMjM0"])
def test_a_bad_cursor_is_a_400(client_all, campaign, cursor):
    add_leads(campaign, 3)

    response = client_all.get(LEADS, {"cursor": cursor})

    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


def walk(client, url: str, direction: str) -> list[list[str]]:
    pages = []
    while url:
        page = get_page(client, url)
        pages.append(ids(page))
        url = page[direction]
    return pages


def test_cursors_walk_every_lead_exactly_once_in_both_directions(client_all, campaign):
    created = add_leads(campaign, 60)
    newest_first = list(reversed(created))

    forward = walk(client_all, f"{LEADS}?limit=25", "next")

    assert [len(p) for p in forward] == [25, 25, 10]
    assert [lead for page in forward for lead in page] == newest_first

    last = get_page(client_all, f"{LEADS}?limit=25")
    while last["next"]:
        last_url = last["next"]
        last = get_page(client_all, last_url)
    backward = walk(client_all, last_url, "previous")

    assert backward == list(reversed(forward))


def test_pages_stay_stable_while_leads_are_added(client_all, campaign):
    created = add_leads(campaign, 30)
    newest_first = list(reversed(created))

    seen, url = [], f"{LEADS}?limit=10"
    while url:
        page = get_page(client_all, url)
        seen += ids(page)
        add_leads(campaign, 3, start=1000 + len(seen))  # new leads between every fetch
        url = page["next"]

    assert seen == newest_first
    fresh = get_page(client_all, LEADS, {"limit": 100})
    assert len(ids(fresh)) == 30 + 3 * 3
    assert ids(fresh)[9:] == newest_first  # the new ones come first, newest first


def test_filters_are_kept_in_the_cursor_links(client_all, campaign, workspace):
    other = Campaign.objects.create(workspace=workspace, name="Other")
    mine = add_leads(campaign, 12)
    add_leads(other, 12, start=100)

    pages = walk(client_all, f"{LEADS}?limit=5&campaign_id={campaign.pk}", "next")

    assert [lead for page in pages for lead in page] == list(reversed(mine))
    first = get_page(client_all, LEADS, {"limit": 5, "campaign_id": str(campaign.pk)})
    assert parse_qs(urlparse(first["next"]).query)["campaign_id"] == [str(campaign.pk)]


def test_an_empty_list(client_all):
    assert get_page(client_all, LEADS) == {"next": None, "previous": None, "results": []}
