"""Trying it on one machine (API.md §9): `manage.py run_mail_catcher` (started by `make run`)
keeps what it receives over SMTP, with any login or none, and delivers nothing; the admin lists
and shows it (the HTML part only inside a sandboxed iframe); in development NATIVE sender
accounts send to it; `make run` points links at the address it serves."""

import email.policy
import os
import re
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings

from mailcatcher.models import CaughtMail
from scripts import dev_env
from tests.delivery_support import (
    activate,
    add_lead,
    create_campaign,
    free_port,
    leads_of,
    run_engine,
)
from tests.processes import database_url
from tests.urls import api_url

ROOT = Path(settings.BASE_DIR)
FERNET_KEY = "YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c="
MAX_BYTES = 200_000
SCRIPT = '<script>alert("caught")</script>'
LIST_URL = "/admin/mailcatcher/caughtmail/"

# The catcher writes from its own process: the tests that read what it wrote commit their data.
transactional = pytest.mark.django_db(transaction=True)


def catcher_command(*args: str, **env: str) -> tuple[list[str], dict[str, str]]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "ENV_FILE": "/dev/null",
        "SECRET_KEY": "test-only-secret-key",
        "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
        "CONN_MAX_AGE": "0",
        **env,
    }
    return [sys.executable, "manage.py", "run_mail_catcher", *args], environment


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def catcher() -> Iterator[int]:
    """The command in a real process, on a free port, writing to the test database."""
    port = free_port()
    command, env = catcher_command(
        "--port", str(port), DATABASE_URL=database_url(), MAIL_CATCHER_MAX_BYTES=str(MAX_BYTES)
    )
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not listening(port):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the mail catcher did not start"
        time.sleep(0.1)
    yield port
    process.terminate()
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"Mail catcher on smtp://127.0.0.1:{port}" in out


def message(subject: str = "Hello", html: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, "sales@acme.example", "ada@example.com"
    mail["Message-ID"] = f"<{subject.replace(' ', '-')}@acme.example>"
    mail.set_content(f"Hello Ada, this is {subject}.")
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


@transactional
def test_any_login_or_none_is_accepted_and_every_message_kept(catcher):
    with smtplib.SMTP("127.0.0.1", catcher, timeout=10) as smtp:
        smtp.ehlo()
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        smtp.login("anyone", "any password at all")  # AUTH PLAIN
        smtp.send_message(message("with plain"))
    with smtplib.SMTP("127.0.0.1", catcher, timeout=10) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = "someone", "another password"
        code, _ = smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        assert code == 235
        smtp.send_message(message("with login"))
    with smtplib.SMTP("127.0.0.1", catcher, timeout=10) as smtp:  # no AUTH at all
        refused = smtp.sendmail(
            "bounce@acme.example", ["ada@example.com", "grace@example.org"], message().as_bytes()
        )
        assert refused == {}

    caught = list(CaughtMail.objects.order_by("id"))
    assert [m.subject for m in caught] == ["with plain", "with login", "Hello"]
    assert caught[0].mail_from == "sales@acme.example"
    assert caught[0].rcpt_tos == ["ada@example.com"]
    assert caught[0].message_id == "<with-plain@acme.example>"
    assert caught[2].mail_from == "bounce@acme.example"
    assert caught[2].rcpt_tos == ["ada@example.com", "grace@example.org"]
    for mail in caught:
        assert mail.size == len(bytes(mail.raw)) > 0
        assert b"Hello Ada, this is" in bytes(mail.raw)


@transactional
def test_the_admin_lists_and_shows_caught_mail_with_the_html_sandboxed(catcher, superuser_client):
    html = f'<p>Hello <b>Ada</b> &amp; co</p>{SCRIPT}<a href="http://127.0.0.1:8000/u/x">bye</a>'
    with smtplib.SMTP("127.0.0.1", catcher, timeout=10) as smtp:
        smtp.login("x", "y")
        smtp.send_message(message("Quick question", html=html))
    mail = CaughtMail.objects.get()

    listing = superuser_client.get(LIST_URL)
    assert listing.status_code == 200
    page = listing.content.decode()
    for shown in ("Quick question", "sales@acme.example", "ada@example.com"):
        assert shown in page

    detail = superuser_client.get(f"{LIST_URL}{mail.pk}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "Subject: Quick question" in page  # the headers
    assert "Message-ID: &lt;Quick-question@acme.example&gt;" in page
    assert "Hello Ada, this is Quick question." in page  # the text part
    [frame] = re.findall(r"<iframe [^>]*>", page)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame
    assert "allow-same-origin" not in frame
    # The HTML part is text inside the attribute, never markup of the admin page.
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&quot;caught&quot;)&lt;/script&gt;" in frame
    assert "&lt;b&gt;Ada&lt;/b&gt; &amp;amp; co" in frame
    assert 'name="_save"' not in page  # read-only

    assert superuser_client.get(f"{LIST_URL}add/").status_code == 403
    assert superuser_client.post(f"{LIST_URL}{mail.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not CaughtMail.objects.exists()


@transactional
def test_a_message_over_the_size_limit_is_refused_with_552(catcher):
    big = message("too big")
    big.set_content(("x" * 99 + "\n") * (MAX_BYTES // 100 + 10))
    with smtplib.SMTP("127.0.0.1", catcher, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == str(MAX_BYTES)
        with pytest.raises(smtplib.SMTPSenderRefused) as announced:  # MAIL FROM ... SIZE=
            smtp.send_message(big)
        assert announced.value.smtp_code == 552
        smtp.rset()
        assert smtp.mail("sales@acme.example")[0] == 250  # no SIZE: refused after the data
        assert smtp.rcpt("ada@example.com")[0] == 250
        assert smtp.data(big.as_bytes(policy=email.policy.SMTP))[0] == 552
        smtp.send_message(message("small enough"))
    assert [m.subject for m in CaughtMail.objects.all()] == ["small enough"]


@transactional
def test_native_accounts_send_to_the_catcher_without_auth(
    catcher, client_all, delivery_settings, clock
):
    """The engine's NATIVE path against the catcher, as EMAIL_URL=smtp://127.0.0.1:PORT sets
    it: no TLS, no AUTH."""
    delivery_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    delivery_settings.EMAIL_HOST, delivery_settings.EMAIL_PORT = "127.0.0.1", catcher
    delivery_settings.EMAIL_HOST_USER = delivery_settings.EMAIL_HOST_PASSWORD = None
    delivery_settings.EMAIL_USE_TLS = delivery_settings.EMAIL_USE_SSL = False
    delivery_settings.PUBLIC_BASE_URL = "http://127.0.0.1:34817"
    response = client_all.post(
        api_url("sender_accounts"),
        {"type": "NATIVE", "email": "sales@acme.example", "min_interval_seconds": 0,
         "max_interval_seconds": 0},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    steps = [
        {"subject": "Quick question, {{first_name}}", "body": "Hello!", "delay_days": 0},
        {"subject": "Following up", "body": "Again.", "delay_days": 0},
    ]
    campaign_id = create_campaign(client_all, [response.json()["id"]], steps=steps)
    add_lead(client_all, campaign_id, "ada@example.com", first_name="Ada")
    activate(client_all, campaign_id)
    run_engine()

    assert leads_of(client_all, campaign_id)["ada@example.com"]["status"] == "COMPLETED"
    caught = list(CaughtMail.objects.order_by("id"))
    assert [(m.subject, m.rcpt_tos) for m in caught] == [
        ("Quick question, Ada", ["ada@example.com"]),
        ("Following up", ["ada@example.com"]),
    ]
    assert b"http://127.0.0.1:34817/u/" in bytes(caught[0].raw)


def test_the_catcher_listens_on_loopback_only():
    command, env = catcher_command("--host", "0.0.0.0", "--port", str(free_port()))
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "loopback only" in result.stderr


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # aiosmtpd reports a failed bind only when its ready timeout (5 s by default) runs
        # out: 1 s is plenty for a bind that fails at once, and the error is the same.
        command, env = catcher_command(
            "--port", str(taken.getsockname()[1]), AIOSMTPD_CONTROLLER_TIMEOUT="1"
        )
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    assert "Is another mail catcher running? Choose another port with MAIL_CATCHER_PORT" in (
        result.stderr
    )


def email_settings(env_file: Path, **env: str) -> str:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND.rsplit('.', 2)[-2], s.EMAIL_HOST, s.EMAIL_PORT, "
        "s.EMAIL_HOST_USER, s.EMAIL_USE_TLS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "coldsend.settings",
            "ENV_FILE": str(env_file),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_in_development_native_accounts_send_to_the_catcher(tmp_path):
    """The .env `make run` writes (and any .env with DEBUG, written before the catcher): EMAIL_URL
    defaults to the catcher, wherever MAIL_CATCHER_PORT moves it; without DEBUG the console."""
    dev_env.main(tmp_path / ".env")
    assert email_settings(tmp_path / ".env") == "smtp 127.0.0.1 1025 None False"
    assert email_settings(tmp_path / ".env", MAIL_CATCHER_PORT="2526") == (
        "smtp 127.0.0.1 2526 None False"
    )
    assert email_settings(tmp_path / ".env", EMAIL_URL="smtp+tls://u:p@relay.test:587") == (
        "smtp relay.test 587 u True"
    )
    production = {"SECRET_KEY": "x", "FIELD_ENCRYPTION_KEYS": FERNET_KEY}
    assert email_settings(Path("/dev/null"), **production).startswith("console ")


def make_run(*args: str, **env: str) -> str:
    """The commands `make run` would run (make -n runs none of them)."""
    result = subprocess.run(
        ["make", "-n", "run", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_make_run_points_links_at_the_address_it_serves():
    assert 'PUBLIC_BASE_URL="http://127.0.0.1:34817"' in make_run("PORT=34817")
    assert 'PUBLIC_BASE_URL="http://127.0.0.1:8000"' in make_run()
    served = make_run(PORT="8001", HOST="0.0.0.0")
    assert 'PUBLIC_BASE_URL="http://0.0.0.0:8001"' in served
    assert "honcho start -f Procfile -p 8001" in served
    # Unless it is set (the environment, the command line; honcho's .env wins over both).
    assert 'PUBLIC_BASE_URL="https://links.test"' in make_run(PUBLIC_BASE_URL="https://links.test")
    assert 'PUBLIC_BASE_URL="https://x.test"' in make_run("PUBLIC_BASE_URL=https://x.test")


def test_make_run_starts_the_catcher_beside_the_server_and_the_worker():
    processes = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert processes["catcher"] == "python manage.py run_mail_catcher"
    assert set(processes) == {"web", "worker", "catcher"}
