"""Arrows between apps point one way (webhooks → inbound → delivery → engagement → leads →
campaigns → sender_accounts → apikeys → workspaces), so a rule has one home and no cycle can
come back. `audit` and `events` are ground every floor may stand on (the actions write their
rows); audit stands on the workspaces only, events on nothing. Views, serializers, admins,
URLs and commands (the top floor) may read any app; `coldsend`, the composition root, is
checked apart: only its `core` is ground."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The apps from the top of the house to its ground, as the house plan draws them.
ORDER = [
    "webhooks",
    "inbound",
    "delivery",
    "engagement",
    "leads",
    "campaigns",
    "sender_accounts",
    "apikeys",
    "workspaces",
]
GROUND = ["audit", "events"]
# What each app's models, services, selectors … may import, besides itself and coldsend.core.
ALLOWED = {app: set(ORDER[index + 1 :]) | set(GROUND) for index, app in enumerate(ORDER)}
ALLOWED["workspaces"] = set()
ALLOWED["audit"] = {"workspaces"}
ALLOWED["events"] = set()  # ids in JSON only: it stands on nothing
# Development tooling (the local mail catcher) stands on nothing; no app may stand on it, as it
# is in no other app's ALLOWED.
ALLOWED["mailcatcher"] = set()
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


def test_the_core_stands_on_no_app():
    core = sorted((ROOT / "coldsend" / "core").rglob("*.py"))
    assert core
    assert {
        str(p.relative_to(ROOT)): sorted(imported_apps(p)) for p in core if imported_apps(p)
    } == {}


def test_every_app_of_the_project_is_ranked():
    from django.conf import settings

    ours = {app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").exists()}
    assert ours - {"coldsend"} == set(ALLOWED)
