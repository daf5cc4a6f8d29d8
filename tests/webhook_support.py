"""What the webhook tests share: a real HTTP receiver on loopback (ThreadingHTTPServer in a
thread) that records every request, answers from a script (status codes, bodies, headers, or a
tarpit that holds the connection without answering) and checks each delivery's signature with
both the Standard Webhooks and the Svix libraries, unchanged, as a customer's receiver would."""

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks.webhooks
import svix.webhooks


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status with a body and headers, or `hang` (accept the request and
    never answer, until the receiver stops)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


HANG = Reply(hang=True)


def verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """True when both libraries accept the delivery with `secret`."""
    try:
        standardwebhooks.webhooks.Webhook(secret).verify(body, headers)
        svix.webhooks.Webhook(secret).verify(body, headers)
    except Exception:  # each library raises its own error class
        return False
    return True


@dataclass
class Hit:
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    at: float  # time.monotonic() on arrival
    verified: bool | None  # None: no secret known for the path when it arrived

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    @property
    def signatures(self) -> list[str]:
        return self.headers["webhook-signature"].split(" ")

    def verifies(self, secret: str) -> bool:
        return verifies(secret, self.body, self.headers)


class Receiver:
    """Records requests by path; answers from `script[path]` (a queue), then `default`."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.secrets: dict[str, str] = {}
        self.scripts: dict[str, deque[Reply]] = {}
        self.defaults: dict[str, Reply] = {}
        self.lock = threading.Lock()
        self.released = threading.Event()  # set at teardown: tarpits let go
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the transport expects

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = receiver.record(self.path, headers, body)
                if reply.hang:
                    receiver.released.wait(120)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def expect(self, secret: str, path: str = "/hook") -> None:
        """Deliveries to `path` are verified with `secret` (both libraries)."""
        self.secrets[path] = secret

    def script(self, *replies: Reply | int, path: str = "/hook") -> None:
        """Answer the next requests to `path` with these (a bare int is that status)."""
        queue = self.scripts.setdefault(path, deque())
        queue.extend(Reply(status=r) if isinstance(r, int) else r for r in replies)

    def answer_always(self, reply: Reply | int, path: str = "/hook") -> None:
        self.defaults[path] = Reply(status=reply) if isinstance(reply, int) else reply

    def record(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        secret = self.secrets.get(path)
        verified = None if secret is None else verifies(secret, body, headers)
        with self.lock:
            self.hits.append(Hit(path, headers, body, time.monotonic(), verified))
            queue = self.scripts.get(path)
            if queue:
                return queue.popleft()
            return self.defaults.get(path, Reply())

    def to(self, path: str = "/hook") -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.path == path]

    def events(self, path: str = "/hook") -> list[dict[str, Any]]:
        """The bodies of the verified deliveries to `path`, in arrival order."""
        return [hit.event for hit in self.to(path) if hit.verified]

    def of_type(self, event_type: str, path: str = "/hook") -> list[dict[str, Any]]:
        return [event for event in self.events(path) if event["type"] == event_type]

    def wait_for(self, count: int, path: str = "/hook", timeout: float = 10.0) -> list[Hit]:
        """At least `count` verified deliveries to `path` (polled every 50 ms), or fail."""
        deadline = time.monotonic() + timeout
        while True:
            verified = [hit for hit in self.to(path) if hit.verified]
            if len(verified) >= count or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        assert len(verified) >= count, (
            count,
            [(h.verified, h.event["type"]) for h in self.to(path)],
        )
        unverified = [hit for hit in self.to(path) if hit.verified is False]
        assert not unverified, f"{len(unverified)} deliveries failed verification"
        return verified

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    """A started Receiver (import `receiver_fixture` to use the `receiver` fixture)."""
    server = Receiver()
    server.start()
    yield server
    server.stop()
