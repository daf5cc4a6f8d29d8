"""The API guide (docs/api.md) and the guides it links to (docs/sending.md, docs/webhooks.md),
served as HTML: CommonMark with tables, GitHub's heading ids (so
`#7-delivery--campaigns-that-send` links work as on GitHub), links between the guides rewritten
to their routes, and nothing loaded from another host. `?format=md` gives the markdown itself."""

import functools
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from rest_framework.request import Request
from rest_framework.views import APIView

# The guides by name, with their files and the route (URL name) each is served at.
GUIDES = {
    "api": ("docs/api.md", "guide"),
    "sending": ("docs/sending.md", "guide-sending"),
    "webhooks": ("docs/webhooks.md", "guide-webhooks"),
}
GUIDE = GUIDES["api"][0]

# Inline styles only; no script, and nothing from another host.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


def github_slug(text: str) -> str:
    """A heading's id as GitHub makes it (github-slugger): lower-cased, every character but
    letters, marks, digits, `_`, `-` and spaces dropped, each space a `-`."""
    kept = (ch for ch in text.lower() if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return "".join(kept).replace(" ", "-")


def _guide_links() -> dict[str, str]:
    """`api.md`, `sending.md` … (as a link in docs/ names them) → the route serving each."""
    return {PurePosixPath(path).name: reverse(name) for path, name in GUIDES.values()}


def _heading_ids_and_links(state: StateCore) -> None:
    """A core rule: an id on every heading (GitHub's, `-1`, `-2` … for repeats), and links to
    another guide's file pointed at the route that serves it."""
    seen: dict[str, int] = {}
    routes = _guide_links()
    tokens = state.tokens
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            text = "".join(c.content for c in inline.children or [] if c.type != "softbreak")
            slug = github_slug(text)
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            token.attrSet("id", f"{slug}-{count}" if count else slug)
        for child in token.children or []:
            href = child.attrGet("href") if child.type == "link_open" else None
            if not isinstance(href, str):
                continue
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not parts.path.endswith(".md"):
                continue
            route = routes.get(PurePosixPath(parts.path).name)
            if route is not None:
                child.attrSet("href", f"{route}#{parts.fragment}" if parts.fragment else route)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.core.ruler.push("heading_ids_and_links", _heading_ids_and_links)
    return md


def to_html(text: str) -> tuple[str, str]:
    """(title, HTML body) of a guide's markdown; the title is its first `#` heading."""
    md = _markdown()
    tokens = md.parse(text)
    titles = [
        tokens[index + 1].content
        for index, token in enumerate(tokens)
        if token.type == "heading_open" and token.tag == "h1"
    ]
    return (titles[0] if titles else ""), md.renderer.render(tokens, md.options, {})


@functools.lru_cache(maxsize=8)
def _rendered(path: Path, mtime_ns: int) -> tuple[str, str]:
    """to_html of a guide's file, again only when the file changes."""
    return to_html(path.read_text(encoding="utf-8"))


class APIGuideView(APIView):
    """Public like the schema and the docs: no key, no scope, no rate limit."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    guide = "api"

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        """The page is HTML whatever `Accept` says (a browser's, or `text/html` alone); only
        errors (a 405) are rendered, as JSON."""
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        path = settings.BASE_DIR / GUIDES[self.guide][0]
        if request.query_params.get("format") == "md":
            text = path.read_text(encoding="utf-8")
            return HttpResponse(text, content_type="text/markdown; charset=utf-8")
        title, body = _rendered(path, path.stat().st_mtime_ns)
        page = render_to_string("coldsend/guide.html", {"title": title, "body": body})
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = CSP
        return response
