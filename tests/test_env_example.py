"""`.env.example` is safe to copy for development, and documents only variables that
settings.py reads."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / ".env.example"


def test_a_copy_of_the_example_runs_in_development(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "from django.core.management import call_command; call_command('check'); "
        "print('DEBUG', settings.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "ENV_FILE": str(EXAMPLE),
            "DJANGO_SETTINGS_MODULE": "coldsend.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG True" in result.stdout


def test_every_documented_variable_is_read_by_the_settings():
    documented = set(
        re.findall(r"^#?\s*(?:production: )?([A-Z][A-Z_]+)=", EXAMPLE.read_text(), re.M)
    )
    settings_source = (ROOT / "coldsend" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_source))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', settings_source))
    assert documented - read == set()
    assert "SECRET_KEY" in documented
    assert "FIELD_ENCRYPTION_KEYS" in documented
