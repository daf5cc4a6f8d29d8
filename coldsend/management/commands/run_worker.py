"""`python manage.py run_worker`: one sending worker (run any number, on any machines).

The send loop queues the reads of the inboxes that are due, claims due sends, sends and records
them, and sleeps until the earliest next_send_at (at most WORKER_MAX_SLEEP_SECONDS). Beside it
runs the configured task backend's worker: django-tasks-db's in a thread, or an RQ worker with
its scheduler in a child process (TASKS_BACKEND=rq). SIGTERM or SIGINT: the current message is
finished, then it exits."""

import logging
import signal
import subprocess
import sys
import threading
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from coldsend.core import clock
from delivery import engine
from inbound.inbox import poll_due_accounts

logger = logging.getLogger("coldsend.worker")


def worker_round(stop: threading.Event | None = None) -> int:
    """One round of a worker: a read of each inbox that is due is queued (a background task,
    run by the task backend's worker), then the engine's sending round. A failure to queue
    (the queue's Redis down) is logged and does not stop the sending. Returns the number of
    messages claimed."""
    try:
        poll_due_accounts()
    except Exception:
        logger.exception("worker: queueing the inbox reads failed; sending goes on")
    return engine.run_once(stop)


def _db_task_worker() -> tuple[threading.Thread, object]:
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["default"],
        interval=1.0,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=f"run_worker-{uuid.uuid4().hex[:12]}",
        excluded_queue_names=[],
    )

    def run() -> None:
        while worker.running:  # a database outage must not end the task worker for good
            try:
                worker.run()
            except Exception:
                logger.exception("task worker: error, restarting")
                time.sleep(1)

    thread = threading.Thread(target=run, name="task-worker", daemon=True)
    thread.start()
    return thread, worker


class Command(BaseCommand):
    help = "Run one sending worker (and the task worker of the configured backend)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-tasks", action="store_true", help="Run the send loop only, no task worker."
        )
        parser.add_argument(
            "--exit-when-idle",
            action="store_true",
            help="Exit once nothing is due (for scripts and benchmarks).",
        )

    def handle(
        self, *args: object, no_tasks: bool, exit_when_idle: bool, **options: object
    ) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            logger.info("worker: %s, finishing the current message", signal.strsignal(signum))
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        task_worker, child = None, None
        if not no_tasks:
            if settings.TASKS_BACKEND == "db":
                _, task_worker = _db_task_worker()
            elif settings.TASKS_BACKEND == "rq":
                # RQ's worker, with its scheduler and django-tasks-rq's job class.
                child = subprocess.Popen(
                    [sys.executable, "manage.py", "rqworker", "--with-scheduler", "--job-class",
                     "django_tasks_rq.backend.Job", "default"],
                    cwd=settings.BASE_DIR,
                )  # fmt: skip
        logger.info("worker started (tasks: %s)", "off" if no_tasks else settings.TASKS_BACKEND)
        try:
            self.loop(stop, exit_when_idle)
        finally:
            if task_worker is not None:
                task_worker.running = False
            if child is not None:
                child.terminate()
                child.wait(timeout=30)
        logger.info("worker stopped")

    def loop(self, stop: threading.Event, exit_when_idle: bool) -> None:
        cap = settings.WORKER_MAX_SLEEP_SECONDS
        while not stop.is_set():
            try:
                close_old_connections()
                claimed = worker_round(stop)
                if claimed:
                    continue
                wait = engine.seconds_until_due(clock.now(), cap)
                if exit_when_idle and wait >= cap:
                    return
            except DatabaseError:
                logger.exception("worker: database error, retrying")
                wait = 1.0
            except Exception:  # a bug with one message must not stop the sending
                logger.exception("worker: unexpected error, going on")
                wait = 1.0
            # Something due but nothing claimed: another worker holds it; look again soon.
            stop.wait(max(wait, 0.05))
