"""A total deadline for a conversation with someone else's server (SMTP, IMAP, a webhook
endpoint). A per-read timeout never trips on a server that sends one byte every few seconds;
this does: when the time is up, the sockets it watches are shut down, so whatever read or write
is blocked on them returns at once and the session fails like a dropped connection. `expired`
then tells the caller why, for its error text.

One watchdog thread per process serves every deadline (a heap of end times): arming one costs
a heap push, not a thread, so it fits the hot path of sending."""

import contextlib
import heapq
import itertools
import socket
import threading
import time
from types import TracebackType


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline, int]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._compact_at = 4096

    def arm(self, deadline: "Deadline", ends: float, generation: int) -> None:
        with self._wake:
            entry = (ends, next(self._order), deadline, generation)
            heapq.heappush(self._heap, entry)
            if len(self._heap) > self._compact_at:  # drop the deadlines stopped or restarted
                self._heap = [entry for entry in self._heap if entry[2].current(entry[3])]
                heapq.heapify(self._heap)
                self._compact_at = max(4096, 2 * len(self._heap))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            # Only a new earliest end changes the watchdog's sleep: waking it for every arm
            # would cost each request a thread switch.
            if self._heap[0] is entry:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                ends, _, deadline, generation = self._heap[0]
                wait = ends - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline._expire(generation)


_watchdog = _Watchdog()


class Deadline:
    """Every watched socket is shut down once `seconds` have passed since the deadline was
    started (`restart`, or entering `with`); `stop` disarms it; `remaining()` is the
    time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._generation = 0  # each start arms a new one; stop and restart retire the old
        self._armed = False
        self.expired = False

    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        """Shut `sock` down when the deadline passes (at once if it has passed already)."""
        if sock is None:
            return
        with self._lock:
            self._sockets = [s for s in self._sockets if s.fileno() != -1]
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)

    def restart(self, seconds: float | None = None) -> None:
        """A new deadline from now (e.g. for the next message over a reused session)."""
        with self._lock:
            self._generation += 1
            self._ends = time.monotonic() + (self.seconds if seconds is None else seconds)
            self.expired, self._armed = False, True
            generation, ends = self._generation, self._ends
        _watchdog.arm(self, ends, generation)

    def current(self, generation: int) -> bool:
        return self._armed and generation == self._generation

    def stop(self) -> None:
        with self._lock:
            self._generation += 1
            self._armed = False

    def _expire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or not self._armed:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "Deadline":
        self.restart()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
