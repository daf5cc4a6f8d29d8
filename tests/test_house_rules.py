"""Facts about the code that keep one door per change, checked by reading it (ast), the way a
reviewer would grep: a lead's status is written only by leads/transitions.py (and SQL built from
its tables), the engine stays in parts one can hold in mind, and the lead state table agrees
with itself and with the SQL the engine runs."""

import ast
from pathlib import Path

import pytest
from django.db import connection

from leads import transitions
from leads.models import Lead

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "tests", "bench", "migrations", "scripts", "node_modules"}
WRITES = {"update", "create", "bulk_create", "get_or_create", "update_or_create", "filter"}


def project_files() -> list[Path]:
    return [
        path for path in sorted(ROOT.rglob("*.py")) if not SKIP & set(path.relative_to(ROOT).parts)
    ]


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _lead_status_aliases(tree: ast.Module) -> set[str]:
    """Module names bound to Lead.Status (`Status = Lead.Status`) or to leads.transitions."""
    aliases = {"transitions"} if _imports_lead_transitions(tree) else set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "Lead.Status":
            aliases |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return aliases


def _imports_lead_transitions(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "leads"
        and any(alias.name == "transitions" for alias in node.names)
        for node in ast.walk(tree)
    )


def _is_lead_status(value: ast.AST, aliases: set[str]) -> bool:
    text = ast.unparse(value)
    return "Lead.Status" in text or any(
        text == alias or text.startswith(f"{alias}.") for alias in aliases
    )


def lead_status_writes(source: str) -> list[str]:
    """Places in `source` that set a lead's status: a `status=` keyword (or a "status" key)
    given a Lead status, or any `status=` on a query rooted at Lead; `x.status = …` on a lead."""
    tree = ast.parse(source)
    aliases = _lead_status_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            on_lead = "Lead" in _names(func)
            written = isinstance(func, ast.Attribute) and func.attr in WRITES - {"filter"}
            for keyword in node.keywords:
                if keyword.arg != "status":
                    continue
                if (written or func_is_model(func)) and (
                    on_lead or _is_lead_status(keyword.value, aliases)
                ):
                    found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "status"
                    and "lead" in ast.unparse(target.value).lower()
                ):
                    found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
                if (
                    isinstance(target, ast.Subscript)
                    and ast.unparse(target.slice) == "'status'"
                    and _is_lead_status(node.value, aliases)
                ):
                    found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def func_is_model(func: ast.AST) -> bool:
    return isinstance(func, ast.Name) and func.id == "Lead"


def test_a_lead_status_is_written_only_by_leads_transitions():
    writers = {
        str(path.relative_to(ROOT)): lead_status_writes(path.read_text())
        for path in project_files()
        if path != ROOT / "leads" / "transitions.py"
    }
    assert {path: lines for path, lines in writers.items() if lines} == {}


@pytest.mark.parametrize(
    "source",
    [
        "Lead.objects.filter(pk=1).update(status=Lead.Status.BOUNCED)",
        "Status = Lead.Status\nleads.update(status=Status.FAILED, next_send_at=None)",
        "Lead.objects.filter(pk=1).update(status=reason)",
        "changes['status'] = Lead.Status.COMPLETED",
        "lead.status = 'REPLIED'",
        "Lead(email='a@b.c', status=Lead.Status.PENDING)",
        "from leads import transitions\nqs.update(status=transitions.BOUNCED)",
    ],
)
def test_the_check_finds_a_status_written_by_hand(source):
    assert lead_status_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        "Message.objects.filter(pk=1).update(status=Message.Status.SENT)",
        "transitions.move(leads, transitions.BOUNCED, next_send_at=None)",
        "Lead.objects.filter(status=Lead.Status.PENDING)",
        "campaign.status = Campaign.Status.ACTIVE",
    ],
)
def test_the_check_lets_other_writes_be(source):
    assert lead_status_writes(source) == []


def functions_over(path: Path, limit: int) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_engine_is_in_parts_one_can_hold_in_mind():
    engine = ROOT / "delivery" / "engine.py"
    assert not engine.exists() or len(engine.read_text().splitlines()) < 300
    long = {
        str(path.relative_to(ROOT)): functions_over(path, 60)
        for path in sorted((ROOT / "delivery").rglob("*.py"))
        if "migrations" not in path.parts
    }
    assert {path: names for path, names in long.items() if names} == {}


def test_the_lead_state_table_is_closed_and_consistent():
    statuses = set(Lead.Status.values)
    assert set(transitions.FOLLOWS) == statuses
    assert all(nexts <= statuses for nexts in transitions.FOLLOWS.values())
    for (before, _), after in transitions.AFTER_SEND.items():
        assert transitions.may_follow(before, after)
    for stop in (True, False):
        assert set(transitions.continuing(stop_on_reply=stop)) <= statuses
    assert transitions.UNSUBSCRIBED not in transitions.sources(transitions.BOUNCED)
    assert transitions.FOLLOWS[transitions.UNSUBSCRIBED] == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("status", Lead.Status.values)
def test_the_engines_sql_says_what_the_table_says(status, last):
    """The CASE the engine's one-round-trip record runs (PostgreSQL and SQLite alike) gives the
    status `after_send` gives."""
    case, params = transitions.after_send_sql("s", last=last)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {case} FROM (SELECT %s AS s) AS t", [*params, status])
        assert cursor.fetchone()[0] == transitions.after_send(status, last=last)
