"""The repository stands alone: the README's shell blocks are all marked for the README runner
(scripts/run_readme.py, run by .ci/run, executes them against a live server), its links and
the API guide's lead to files in the repository, nothing tracked points outside it, and the
guide is served and linked from the OpenAPI description."""

import re
import subprocess
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

from scripts.run_readme import ReadmeError, shell_blocks
from tests.urls import api_url

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
GUIDE = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
OUTSIDE = re.compile(r"\.\./shared|/wor[k]/|\bSTYLE\.md|\bENGINE\.md")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_every_readme_shell_block_is_marked_and_make_run_is_the_server():
    blocks = shell_blocks(README)
    server = [b for b in blocks if b.marker == "server"]
    assert [b.code.strip() for b in server] == ["make run"]
    runs = [b for b in blocks if b.marker == "run"]
    assert len(runs) >= 4
    code = "\n".join(b.code for b in runs)
    for needed in ("make createsuperuser", "make -s key", "leads/import", "examples/leads.csv"):
        assert needed in code
    # A real campaign, end to end, against the mail catcher that `make run` starts (API.md §9).
    for needed in ('"NATIVE"', "/preview", "/activate", "manage.py caught_mail"):
        assert needed in code


def test_the_runner_refuses_an_unmarked_block():
    with pytest.raises(ReadmeError, match="without a marker"):
        shell_blocks("```sh server\nmake run\n```\n\n```sh\necho hi\n```\n")
    with pytest.raises(ReadmeError, match="exactly one"):
        shell_blocks("```sh run\necho hi\n```\n")


def test_run_blocks_hold_no_placeholder_and_no_uncommon_tool():
    for block in shell_blocks(README):
        if block.marker == "skip":
            continue
        assert "uuidgen" not in block.code, block.line
        assert not re.search(r"<[a-z][a-z _-]*>", block.code), block.line
        assert "..." not in block.code, block.line
        assert not re.search(r"\bcurl -s ", block.code) or "-w" in block.code, block.line


def test_the_example_key_has_every_scope_the_examples_use():
    key_line = re.search(r'make -s key .*SCOPES="([^"]+)"', README).group(1)
    assert set(key_line.split(",")) >= {"campaigns:all", "leads:all", "sender_accounts:all"}


@pytest.mark.parametrize(("name", "text"), [("README.md", README), ("docs/api.md", GUIDE)])
def test_relative_links_lead_to_files_in_the_repository(name, text):
    base = (ROOT / name).parent
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if target.startswith(("http://127.0.0.1", "/api/public/v1/")):
            continue
        assert not re.match(r"https?://", target), f"{name} links outside: {target}"
        assert (base / target).resolve().is_file(), f"{name}: {target} does not exist"


def test_nothing_tracked_points_outside_the_repository():
    offenders = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
            for m in OUTSIDE.finditer(text)
        ]
    assert offenders == []


def test_every_cited_contract_section_is_in_the_guide():
    """Code and tests cite `API.md §N`: each N must be a numbered section of docs/api.md."""
    sections = set(re.findall(r"^## (\d+)\. ", GUIDE, re.M))
    cited = {}
    for path in tracked_files():
        if path.suffix != ".py":
            continue
        for group in re.findall(r"API\.md ((?:§\d+(?:, | and )?)+)", path.read_text()):
            for number in re.findall(r"§(\d+)", group):
                cited.setdefault(number, str(path.relative_to(ROOT)))
    missing = {n: where for n, where in cited.items() if n not in sections}
    assert missing == {}


def test_the_guide_is_served_as_html(client):
    response = client.get(api_url("guide"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert client.get(api_url("guide") + "?format=md").content.decode() == GUIDE
    assert client.get(api_url("guide/")).status_code == 200
    refused = client.post(api_url("guide"))
    assert refused.status_code == 405
    assert refused.json() == {"detail": 'Method "POST" not allowed.'}


def test_the_openapi_description_links_the_guide(client):
    description = SchemaGenerator().get_schema(request=None, public=True)["info"]["description"]
    assert "(/api/public/v1/guide)" in description
    assert "docs/api.md" in description
    assert (
        "/api/public/v1/guide"
        not in SchemaGenerator().get_schema(request=None, public=True)["paths"]
    )
