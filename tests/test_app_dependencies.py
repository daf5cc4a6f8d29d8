"""Arrows between apps point one way (tracking → delivery → engagement → leads → campaigns →
sender_accounts → apikeys), so a rule has one home and no cycle can come back. Views,
serializers, admins, URLs and commands (the top floor) may read any app. `audit` is not ranked:
every floor writes its rows (apikeys' key changes too) and it reads only the Workspace."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What each app's models, services, selectors … may import, besides itself and coldsend.
ALLOWED = {
    "apikeys": set(),
    "sender_accounts": {"apikeys"},
    "campaigns": {"sender_accounts", "apikeys"},
    "leads": {"campaigns", "sender_accounts", "apikeys"},
    "engagement": {"leads", "campaigns", "sender_accounts", "apikeys"},
    "delivery": {"engagement", "leads", "campaigns", "sender_accounts", "apikeys"},
    "tracking": {"delivery", "engagement", "leads", "campaigns", "sender_accounts", "apikeys"},
}
TOP_FLOOR = {"views.py", "import_views.py", "serializers.py", "admin.py", "urls.py", "filters.py"}


def lower_floor(app: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if path.name not in TOP_FLOOR
        and not {"migrations", "management"} & set(path.relative_to(ROOT / app).parts)
    ]


def imported_apps(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(ALLOWED)


@pytest.mark.parametrize("app", sorted(ALLOWED))
def test_models_and_services_import_only_the_apps_below_them(app):
    assert lower_floor(app), f"no modules found for {app}"
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - ALLOWED[app] - {app})
        for path in lower_floor(app)
    }
    assert {path: apps for path, apps in wrong.items() if apps} == {}


def test_the_allowed_arrows_have_no_cycle():
    def below(app: str) -> set[str]:
        return set().union(*({dep} | below(dep) for dep in ALLOWED[app])) if ALLOWED[app] else set()

    assert all(app not in below(app) for app in ALLOWED)
