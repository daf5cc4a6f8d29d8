"""POSTs to someone else's server (API.md §10; a bulkhead per endpoint): connected to an address
checked after DNS (the private-host rule of coldsend.core.netcheck), redirects never followed,
a total deadline per attempt (a server that drips bytes is cut off when it passes), the response
body read to a bound and kept to its first 1 KB. One Connection is kept alive over a batch of
deliveries to the same endpoint."""

import contextlib
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from coldsend.core import clock
from coldsend.core.deadline import Deadline
from coldsend.core.netcheck import HostRefused, resolve

KEPT_BODY_BYTES = 1024
# Read at most this much of a response (beyond it the connection is closed, not drained).
READ_LIMIT = 64 * 1024
MAX_RETRY_AFTER = 86_400.0
USER_AGENT = "ColdSend-Webhooks/1.0"
MAX_ADDRESSES = 3  # of a name's addresses, tried in turn within one attempt's deadline


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def cut_off(self) -> bool:
        """No answer at all (refused, timed out, dropped): the endpoint is down, not just
        refusing this one event."""
        return self.status_code is None


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), bounded; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value) if value.isdigit() else None
        if seconds is None:
            seconds = (parsedate_to_datetime(value) - clock.now()).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Connection:
    """A keep-alive HTTP(S) connection to one endpoint URL."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None

    def _open(self, deadline: Deadline) -> http.client.HTTPConnection:
        sock = self._connect(deadline)
        # As http.client's own connect does: no Nagle wait between a request and the next.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = kind(self.host, self.port, timeout=self.timeout)
        if self.https:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
            deadline.watch(sock)
        conn.sock = sock  # connected to the checked address; http.client does not look again
        return conn

    def _connect(self, deadline: Deadline) -> socket.socket:
        """A socket to an address the private-host rule allows (checked after DNS, and the one
        connected to), its attempts within the deadline: at most MAX_ADDRESSES tried."""
        error: OSError | None = None
        for family, kind, proto, _, address in resolve(self.host, self.port)[:MAX_ADDRESSES]:
            if deadline.remaining() <= 0:
                break
            sock = socket.socket(family, kind, proto)
            deadline.watch(sock)
            try:
                sock.settimeout(max(deadline.remaining(), 0.001))
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or TimeoutError("no address answered in time")

    def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """One POST within the total deadline; never raises for what the server does."""
        started = time.monotonic()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **headers,
        }
        with Deadline(self.timeout) as deadline:
            try:
                return self._post(body, headers, deadline, started)
            except HostRefused as exc:
                self.close()
                return self._failed(str(exc), started)
            except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
                self.close()
                if deadline.expired:
                    return self._failed(f"timed out after {self.timeout:g} s", started)
                return self._failed(_describe(exc), started)

    def _post(
        self, body: bytes, headers: dict[str, str], deadline: Deadline, started: float
    ) -> Answer:
        reused = self._conn is not None
        for _ in range(2):
            if self._conn is None:
                self._conn = self._open(deadline)
            else:
                deadline.watch(self._conn.sock)
            try:
                self._conn.request("POST", self.target, body=body, headers=headers)
                response = self._conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if not reused or deadline.expired:
                    raise
                reused = False  # an idle keep-alive connection the server closed: once more
                continue
            data = response.read(READ_LIMIT)
            if not response.isclosed() or response.will_close:
                self.close()  # more than we read, or the server closes: start afresh next time
            return Answer(
                status_code=response.status,
                body=storable(data[:KEPT_BODY_BYTES].decode("utf-8", "replace")),
                error=None,
                duration_ms=_ms_since(started),
                retry_after=retry_after(response.getheader("Retry-After")),
            )
        raise ConnectionError("connection closed")

    @staticmethod
    def _failed(error: str, started: float) -> Answer:
        return Answer(None, None, storable(error)[:300], _ms_since(started))


def storable(text: str) -> str:
    """Text PostgreSQL can store: no NUL (a server's answer may hold anything)."""
    return text.replace("\x00", "\ufffd")


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer: {type(exc).__name__}"
    return (
        f"connection failed: {exc.strerror or type(exc).__name__}"
        if isinstance(exc, OSError)
        else f"failed: {type(exc).__name__}"
    )
