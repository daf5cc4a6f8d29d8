"""Production static files: after `collectstatic`, gunicorn with DEBUG off serves the admin's
and the API docs' files itself (WhiteNoise), compressed and under content-hashed names."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import PRODUCTION_ENV
from tests.urls import referenced_urls

ROOT = Path(__file__).resolve().parent.parent
HASHED_CSS = re.compile(r'href="(/static/admin/css/[\w/]+\.[0-9a-f]{12}\.css)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def production_server(tmp_path_factory) -> Iterator[str]:
    """gunicorn (gunicorn.conf.py, one worker) with DEBUG off, after collectstatic into a
    fresh STATIC_ROOT; its base URL."""
    tmp = tmp_path_factory.mktemp("production-static")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        **PRODUCTION_ENV,
        "ENV_FILE": "/dev/null",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    log = (tmp / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if fetch(f"{base}/api/public/v1/me")[0] == 401:
                    break
            except OSError:
                pass
            assert server.poll() is None, (tmp / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, (tmp / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_the_admin_css_is_served_with_debug_off(production_server):
    status, _, login = fetch(f"{production_server}/admin/login/")
    assert status == 200
    stylesheets = HASHED_CSS.findall(login.decode())
    assert "base" in " ".join(stylesheets)
    for path in stylesheets:
        status, headers, content = fetch(production_server + path)
        assert status == 200, path
        assert headers["Content-Type"].startswith("text/css")
        assert b"{" in content
        # A hashed name never changes content, so browsers may keep it for good.
        assert "immutable" in headers["Cache-Control"]


def test_static_files_are_served_compressed(production_server):
    login = fetch(f"{production_server}/admin/login/")[2].decode()
    path = HASHED_CSS.findall(login)[0]
    plain = fetch(production_server + path)
    status, headers, content = fetch(production_server + path, **{"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert len(content) < len(plain[2])


def test_the_unhashed_name_is_served_too_and_unknown_files_are_404(production_server):
    assert fetch(f"{production_server}/static/admin/css/base.css")[0] == 200
    assert fetch(f"{production_server}/static/admin/css/no-such-file.css")[0] == 404


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_api_docs_load_every_asset_with_debug_off(production_server, page):
    url = f"/api/public/v1/{page}"
    status, _, html = fetch(production_server + url)
    assert status == 200
    assets = referenced_urls(url, html.decode())
    assert any(re.search(r"\.[0-9a-f]{12}\.js$", asset) for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        assert fetch(production_server + asset)[0] == 200, asset
