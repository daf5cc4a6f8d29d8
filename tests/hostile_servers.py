"""Other people's servers at their worst, on loopback, for the bulkhead tests: a tarpit that
drips its greeting one byte at a time (SMTP or IMAP), an SMTP server whose answer never ends,
and an IMAP server that answers a small RFC822.SIZE and then announces a huge literal. Each
runs in threads of its own and stops with its context manager."""

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.stopping = threading.Event()
        self.connections = 0

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextmanager
def serving(handler: type[socketserver.BaseRequestHandler], **attributes: object) -> Iterator:
    server = _Server(handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


class Drip(socketserver.BaseRequestHandler):
    """Sends `server.greeting` one byte every `server.interval` seconds, for `server.lifetime`
    seconds (so a test whose client has no deadline fails instead of hanging): no read ever
    times out, only a total deadline ends the conversation sooner."""

    def handle(self) -> None:
        self.server.connections += 1
        greeting: bytes = self.server.greeting
        index = 0
        ends = time.monotonic() + self.server.lifetime
        while not self.server.stopping.is_set() and time.monotonic() < ends:
            try:
                self.request.sendall(greeting[index % len(greeting) : index % len(greeting) + 1])
            except OSError:
                return
            index += 1
            if self.server.stopping.wait(self.server.interval):
                return


@contextmanager
def smtp_tarpit(interval: float = 2.0, lifetime: float = 600.0) -> Iterator[_Server]:
    """An SMTP server whose `220-` banner does not end."""
    greeting = b"220-tarpit.example ESMTP slowly\r\n"
    with serving(Drip, greeting=greeting, interval=interval, lifetime=lifetime) as server:
        yield server


@contextmanager
def imap_tarpit(interval: float = 2.0, lifetime: float = 60.0) -> Iterator[_Server]:
    """An IMAP server whose greeting does not end."""
    greeting = b"* OK tarpit IMAP4rev1 ready, very very slowly"
    with serving(Drip, greeting=greeting, interval=interval, lifetime=lifetime) as server:
        yield server


@dataclass
class Mailbox:
    """What the fake IMAP server holds: uid -> (announced RFC822.SIZE, the message or None for
    a literal of `huge` bytes announced and never sent in full)."""

    messages: dict[int, tuple[int, bytes | None]] = field(default_factory=dict)
    huge: int = 300_000_000
    fetched: list[int] = field(default_factory=list)


class LyingIMAP(socketserver.StreamRequestHandler):
    """Just enough IMAP4rev1 for the inbox reader (CAPABILITY, LOGIN, EXAMINE/SELECT, UID
    SEARCH, UID FETCH, LOGOUT). A message held as None is announced with a small size and then
    served as a literal of `mailbox.huge` bytes."""

    def send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.server.connections += 1
        mailbox: Mailbox = self.server.mailbox
        self.send(b"* OK [CAPABILITY IMAP4rev1] fake ready")
        while not self.server.stopping.is_set():
            line = self.rfile.readline(65536)
            if not line:
                return
            tag, _, rest = line.strip().partition(b" ")
            command = rest.upper()
            try:
                if not self.answer(tag, command, rest, mailbox):
                    return
            except OSError:
                return

    def answer(self, tag: bytes, command: bytes, rest: bytes, mailbox: Mailbox) -> bool:
        if command.startswith(b"CAPABILITY"):
            self.send(b"* CAPABILITY IMAP4rev1")
        elif command.startswith((b"EXAMINE", b"SELECT")):
            self.send(f"* {len(mailbox.messages)} EXISTS".encode())
            self.send(b"* OK [UIDVALIDITY 7] ok")
            self.send(b"* OK [UIDNEXT 1000] ok")
        elif command.startswith(b"UID SEARCH"):
            self.send(b"* SEARCH " + b" ".join(str(u).encode() for u in sorted(mailbox.messages)))
        elif command.startswith(b"UID FETCH"):
            self.fetch(command, mailbox)
        elif command.startswith(b"LOGOUT"):
            self.send(b"* BYE")
            self.send(tag + b" OK LOGOUT done")
            return False
        self.send(tag + b" OK done")
        return True

    def fetch(self, command: bytes, mailbox: Mailbox) -> None:
        uids, _, items = command.removeprefix(b"UID FETCH ").partition(b" ")
        for uid in sorted(mailbox.messages):
            if str(uid).encode() not in uids.split(b","):
                continue
            size, message = mailbox.messages[uid]
            if b"RFC822.SIZE" in items:
                self.send(f"* {uid} FETCH (UID {uid} RFC822.SIZE {size})".encode())
                continue
            mailbox.fetched.append(uid)
            section = b"BODY[HEADER]" if b"HEADER" in items else b"BODY[]"
            if message is None:  # announce the huge literal, send a little, then hang
                self.wfile.write(f"* {uid} FETCH (UID {uid} ".encode() + section)
                self.wfile.write(f" {{{mailbox.huge}}}\r\n".encode() + b"x" * 65536)
                self.wfile.flush()
                self.server.stopping.wait(30)
                return
            literal = message
            if b"HEADER" in items:
                literal = message.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
            self.wfile.write(f"* {uid} FETCH (UID {uid} ".encode() + section)
            self.wfile.write(f" {{{len(literal)}}}\r\n".encode() + literal + b")\r\n")
            self.wfile.flush()


@contextmanager
def lying_imap(mailbox: Mailbox) -> Iterator[_Server]:
    with serving(LyingIMAP, mailbox=mailbox) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def elapsed(start: float) -> float:
    return time.monotonic() - start


class EndlessReply(socketserver.StreamRequestHandler):
    """Greets, then answers EHLO with `250-` continuation lines that never stop coming (each
    short, so no single line is too long)."""

    def handle(self) -> None:
        self.server.connections += 1
        try:
            self.wfile.write(b"220 endless.example ESMTP\r\n")
            self.wfile.flush()
            self.rfile.readline(1024)
            while not self.server.stopping.is_set():
                self.wfile.write(b"250-" + b"x" * 60 + b"\r\n")
        except OSError:
            return


@contextmanager
def smtp_endless_reply() -> Iterator[_Server]:
    with serving(EndlessReply) as server:
        yield server
