"""`/api/public/v1/guide` is the API guide (docs/api.md) as HTML, the same text: tables, fenced
code, GitHub's heading ids so that its in-page links work, its link to the sending guide served
at `guide/sending`, an inline style sheet and nothing loaded. `?format=md` is the markdown."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from coldsend.guide import github_slug, to_html
from tests.urls import api_url

ROOT = Path(__file__).resolve().parent.parent
GUIDES = {"guide": ROOT / "docs" / "api.md", "guide/sending": ROOT / "docs" / "sending.md"}


class Page(HTMLParser):
    """The ids, links, headings and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(found["id"])
        if tag == "a" and found.get("href"):
            self.links.append(found["href"])
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)


def page(client, path: str) -> Page:
    response = client.get(api_url(path))
    assert response.status_code == 200, path
    parsed = Page()
    parsed.feed(response.content.decode())
    return parsed


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.mark.parametrize("path", GUIDES)
def test_a_guide_is_an_html_page_that_loads_nothing(client, path):
    response = client.get(api_url(path))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert html.startswith("<!DOCTYPE html>")
    assert "<style>" in html
    assert "<script" not in html
    assert not re.search(r"""<(link|img|script|iframe)\b""", html)
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert client.get(api_url(f"{path}/")).status_code == 200


@pytest.mark.parametrize(("path", "source"), GUIDES.items())
def test_a_guide_is_the_same_text(client, path, source):
    markdown = source.read_text(encoding="utf-8")
    rendered = page(client, path)
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.M)
    assert [words(h.replace("`", "")) for h in headings] == [words(h) for h in rendered.headings]
    # Every word of the markdown (markup aside) is on the page, in the same order.
    text = words(" ".join(rendered.text))
    # Fences (and their language) and the numbers of ordered lists are not text.
    prose = re.sub(r"^\s*(```.*|\d+\. )", "", markdown, flags=re.M)
    source_words = words(re.sub(r"\]\([^)]*\)|[`*|#>\-]", " ", prose))
    position = 0
    for word in source_words:
        position = text.index(word, position) + 1


def test_tables_and_fenced_code_are_rendered(client):
    html = client.get(api_url("guide")).content.decode()
    tables = len(re.findall(r"^\|---", GUIDES["guide"].read_text(encoding="utf-8"), re.M))
    assert html.count("<table>") == tables > 5
    assert "<th>method and path</th>" in html
    assert '<pre><code class="language-json">{&quot;name&quot;: &quot;CRM sync&quot;' in html
    assert "```" not in html


@pytest.mark.parametrize("path", GUIDES)
def test_every_link_of_a_guide_leads_somewhere(client, path):
    """In-page links (`#7-delivery--campaigns-that-send`) find their heading; links to the other
    guide's file lead to its route and heading; no link is left pointing at a `.md` file."""
    rendered = page(client, path)
    assert rendered.links
    for link in rendered.links:
        parts = urlsplit(link)
        assert not parts.path.endswith(".md"), link
        target = rendered if not parts.path else page(client, parts.path.removeprefix(api_url("")))
        if parts.fragment:
            assert parts.fragment in target.ids, link


def test_the_guide_links_the_sending_guide(client):
    links = page(client, "guide").links
    assert api_url("guide/sending") in links
    assert api_url("guide/sending") + "#pause-failures-and-protection" in links
    assert "7-delivery--campaigns-that-send" in page(client, "guide").ids


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("7. Delivery — campaigns that send", "7-delivery--campaigns-that-send"),
        (
            "8. Engagement — opens, clicks, unsubscribes, replies, bounces",
            "8-engagement--opens-clicks-unsubscribes-replies-bounces",
        ),
        ("Other people's servers cannot stall it", "other-peoples-servers-cannot-stall-it"),
        ("sent_today and RFC 8058", "sent_today-and-rfc-8058"),
        ("Réponse automatique", "réponse-automatique"),
    ],
)
def test_heading_ids_are_githubs(heading, slug):
    assert github_slug(heading) == slug


def test_ids_are_unique_and_guide_files_are_linked_by_route():
    title, html = to_html(
        "# Title\n\n## Notes\n\n## Notes\n\n### Notes\n\n"
        "[a](sending.md#settings) [b](api.md) [c](../README.md) [d](https://example.com/x.md)\n"
    )
    assert title == "Title"
    assert re.findall(r'<h\d id="([^"]+)"', html) == ["title", "notes", "notes-1", "notes-2"]
    assert re.findall(r'href="([^"]+)"', html) == [
        api_url("guide/sending") + "#settings",
        api_url("guide"),
        "../README.md",
        "https://example.com/x.md",
    ]
    assert to_html("<script>alert(1)</script>")[1].startswith("<p>&lt;script&gt;")


@pytest.mark.parametrize(("path", "source"), GUIDES.items())
def test_the_markdown_itself(client, path, source):
    response = client.get(api_url(path) + "?format=md")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.content.decode() == source.read_text(encoding="utf-8")


def test_any_accept_header_gets_the_page_and_errors_stay_json(client):
    for accept in ("text/html", "text/markdown", "application/json"):
        assert client.get(api_url("guide"), HTTP_ACCEPT=accept).status_code == 200
    refused = client.post(api_url("guide/sending"), HTTP_ACCEPT="text/html")
    assert refused.status_code == 405
    assert refused.json() == {"detail": 'Method "POST" not allowed.'}
