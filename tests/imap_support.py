"""A real IMAP server for the inbox tests: a throwaway Dovecot (Debian's dovecot-imapd) with
its own configuration under a temporary directory, listening on loopback ports chosen at run
time (plain + STARTTLS, and implicit TLS with a self-signed certificate for 127.0.0.1), test
users in a passwd-file and Maildir mailboxes. Mail is put in with IMAP APPEND.

Without Dovecot installed the tests that need it skip, unless CI is "true": then they fail."""

import datetime as dt
import grp
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

from tests.delivery_support import free_port

DOVECOT = shutil.which("dovecot") or (
    "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
)
PASSWORD = "imap-test-pass"

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No per-IP auth penalty: after a test's failed login every later login from 127.0.0.1 would
  # wait seconds (auth_failure_delay only covers the failed reply itself).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  chroot =
}}
"""


def self_signed(root: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path = root / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


# Dovecot re-reads its passwd-file only when the file's mtime changes (whole seconds): the
# users are all written before it starts, and handed out one per test.
USERS = 500


@dataclass
class Dovecot:
    root: Path
    port: int
    tls_port: int
    cert: Path
    handed_out: int = 0

    def new_mailbox(self) -> str:
        """An IMAP username no test used before (the password is PASSWORD)."""
        assert self.handed_out < USERS, "more mailboxes than USERS"
        self.handed_out += 1
        return f"user{self.handed_out:04}"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def deliver(self, user: str, *messages: bytes) -> None:
        """Put messages in the user's INBOX (IMAP APPEND)."""
        client = self.client(user)
        try:
            for message in messages:
                client.append("INBOX", message)
        finally:
            client.logout()

    def uidvalidity(self, user: str) -> int:
        client = self.client(user)
        try:
            return client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
        finally:
            client.logout()

    def renumber(self, user: str) -> None:
        """Make Dovecot forget the mailbox's UIDs, as a server rebuilding its index does: the
        next session sees a new UIDVALIDITY and every message under a new UID."""
        mailbox = self.root / "mail" / user
        for name in (
            "dovecot-uidlist",
            "dovecot.index",
            "dovecot.index.cache",
            "dovecot.index.log",
        ):
            (mailbox / name).unlink(missing_ok=True)

    def flags(self, user: str) -> dict[int, tuple]:
        client = self.client(user)
        try:
            client.select_folder("INBOX", readonly=True)
            uids = client.search("ALL")
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}
        finally:
            client.logout()


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None and not (log.exists() and port_open(port)):
                break
            time.sleep(0.05)
    text = log.read_text() if log.exists() else ""
    raise RuntimeError(f"Dovecot did not start on port {port}:\n{text[-2000:]}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def service_users() -> tuple[str, str, int, int]:
    """(login user, internal user, mail uid, mail gid). Dovecot's login processes refuse to
    run as root: as root, the package's own unprivileged users serve; otherwise, whoever runs
    the tests."""
    if os.getuid() == 0:
        try:
            internal = pwd.getpwnam("dovecot")
            login = pwd.getpwnam("dovenull")
        except KeyError:
            pytest.fail("Dovecot's users (dovecot, dovenull) are missing: reinstall dovecot-core.")
        return login.pw_name, internal.pw_name, internal.pw_uid, internal.pw_gid
    me = pwd.getpwuid(os.getuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Dovecot (dovecot-imapd) is required in CI and is not installed.")
        pytest.skip("Dovecot (dovecot-imapd) is not installed.")
    root = Path(tempfile.mkdtemp(prefix="coldsend-dovecot-"))
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    (root / "passwd").write_text(
        "".join(f"user{n:04}:{{PLAIN}}{PASSWORD}\n" for n in range(1, USERS + 1))
    )
    login_user, internal_user, uid, gid = service_users()
    if os.getuid() == 0:  # the mail processes run as the unprivileged `dovecot` user
        root.chmod(0o755)
        for sub in ("mail", "home"):
            os.chown(root / sub, uid, gid)
    port, tls_port = free_port(), free_port()
    cert = self_signed(root)
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            login_user=login_user,
            user=internal_user,
            group=grp.getgrgid(gid).gr_name,
            uid=uid,
            gid=gid,
            port=port,
            tls_port=tls_port,
        )
    )
    # -F: stay in the foreground, so the fixture owns the process and stops it.
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, root / "dovecot.log")
        wait_for_port(tls_port, process, root / "dovecot.log")
        yield Dovecot(root, port, tls_port, cert)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


# Accounts, campaigns and mail for the inbox tests

MAIL = Path(__file__).parent / "fixtures" / "mail"
DATE = "Wed, 04 Mar 2026 12:05:00 +0000"


def mail(name: str, **values: str) -> bytes:
    """A fixture message with its placeholders filled in, CRLF line ends."""
    text = (MAIL / f"{name}.eml").read_text()
    for key, value in {"date": DATE, **values}.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def imap_block(server: Dovecot, user: str, security: str = "NONE", **fields) -> dict:
    port = server.tls_port if security == "SSL" else server.port
    return {
        "host": "127.0.0.1",
        "port": port,
        "username": user,
        "password": PASSWORD,
        "security": security,
        **fields,
    }


def create_inbox_account(client, sink, server: Dovecot, security: str = "NONE", **fields) -> tuple:
    """An SMTP sender account sending to the sink and reading a new Dovecot mailbox:
    (account id, IMAP user)."""
    from tests.delivery_support import PASSWORD as SMTP_PASSWORD
    from tests.delivery_support import USERNAME, api_url

    user = server.new_mailbox()
    body = {
        "type": "SMTP",
        "email": fields.pop("email", "alice@sender.example"),
        "display_name": "Alice Sender",
        "daily_limit": 1000,
        "smtp": {
            "host": "127.0.0.1",
            "port": sink.port,
            "username": USERNAME,
            "password": SMTP_PASSWORD,
            "security": "NONE",
        },
        "imap": imap_block(server, user, security),
    }
    response = client.post(api_url("sender_accounts"), body, format="json")
    assert response.status_code == 201, response.content
    account_id = response.json()["id"]
    from sender_accounts.models import SenderAccount

    SenderAccount.objects.filter(pk=account_id).update(
        min_interval_seconds=0, max_interval_seconds=0
    )
    return account_id, user


def sent_id(sink, address: str, index: int = -1) -> str:
    """The Message-ID of a message the SMTP sink received for `address`."""
    return sink.to(address)[index].message["Message-ID"]
