"""`python manage.py run_worker`: one sending worker (run any number, on any machines).

The send loop queues the reads of the inboxes that are due, claims due sends, sends and records
them, and sleeps until the earliest next_send_at (at most WORKER_MAX_SLEEP_SECONDS). Beside it
run TASK_WORKERS workers of the configured task backend: django-tasks-db's in threads, or RQ
workers (the first with its scheduler) in child processes (TASKS_BACKEND=rq), and
WEBHOOK_WORKERS more on the `webhooks` queue, fed by the webhooks' dispatcher thread. The background
tasks talk to other people's servers (an inbox poll, an account re-check), each under its own
total deadline: with several task workers one slow server holds one of them, never the others.
SIGTERM or SIGINT: the current message is finished, then it exits."""

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
from delivery.answering import queue_due as queue_answers
from inbound.inbox import poll_due_accounts
from webhooks import dispatch

logger = logging.getLogger("coldsend.worker")


def worker_round(stop: threading.Event | None = None, lanes: engine.Lanes | None = None) -> int:
    """One round of a worker: a read of each inbox that is due is queued (a background task,
    run by the task backend's workers), and so is each answer due (API.md §11), then the
    engine's sending round: with `lanes`, claims handed to the free lanes without waiting for
    any; without, one batch sent before this returns (in-process runs). A failure to queue (the
    queue's Redis down) is logged and does not stop the sending. Returns the number of messages
    claimed."""
    try:
        poll_due_accounts()
    except Exception:
        logger.exception("worker: queueing the inbox reads failed; sending goes on")
    try:
        queue_answers()
    except Exception:
        logger.exception("worker: queueing the answers failed; sending goes on")
    if lanes is None:
        return engine.run_once(stop)
    return engine.run_round(lanes)


def _db_task_worker(number: int, queue: str = "default") -> tuple[threading.Thread, object]:
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=[queue],
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

    thread = threading.Thread(target=run, name=f"{queue}-task-worker-{number}", daemon=True)
    thread.start()
    return thread, worker


def _rq_worker(scheduler: bool, queue: str = "default") -> subprocess.Popen:
    command = [sys.executable, "manage.py", "rqworker"]
    if scheduler:
        command.append("--with-scheduler")
    command += ["--job-class", "django_tasks_rq.backend.Job", queue]
    return subprocess.Popen(command, cwd=settings.BASE_DIR)  # noqa: S603 (our own manage.py)


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

        task_workers, children = [], []
        if not no_tasks:
            count = max(1, settings.TASK_WORKERS)
            hooks = max(1, settings.WEBHOOK_WORKERS)
            if settings.TASKS_BACKEND == "db":
                task_workers = [_db_task_worker(n)[1] for n in range(1, count + 1)]
                task_workers += [_db_task_worker(n, "webhooks")[1] for n in range(1, hooks + 1)]
            elif settings.TASKS_BACKEND == "rq":
                # RQ workers with django-tasks-rq's job class; the first runs the scheduler.
                children = [_rq_worker(scheduler=n == 0) for n in range(count)]
                children += [_rq_worker(False, "webhooks") for _ in range(hooks)]
            # The webhooks' dispatcher: fans events out to deliveries and queues their tasks.
            threading.Thread(
                target=dispatch.sweep_forever, args=(stop,), name="webhook-dispatcher", daemon=True
            ).start()
        logger.info("worker started (tasks: %s)", "off" if no_tasks else settings.TASKS_BACKEND)
        try:
            self.loop(stop, exit_when_idle)
        finally:
            for task_worker in task_workers:
                task_worker.running = False
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)
        logger.info("worker stopped")

    def loop(self, stop: threading.Event, exit_when_idle: bool) -> None:
        lanes = engine.Lanes(engine.lane_count(), stop)
        try:
            self.rounds(lanes, stop, exit_when_idle)
        finally:
            stop.set()  # the lanes finish their current message and hand the rest back
            lanes.shutdown()

    def rounds(self, lanes: engine.Lanes, stop: threading.Event, exit_when_idle: bool) -> None:
        cap = settings.WORKER_MAX_SLEEP_SECONDS
        while not stop.is_set():
            try:
                close_old_connections()
                claimed = worker_round(stop, lanes)
                if claimed and lanes.free() > 0:
                    continue
                wait = engine.seconds_until_due(clock.now(), cap, lanes.busy())
                if exit_when_idle and wait >= cap and lanes.idle():
                    return
            except DatabaseError:
                logger.exception("worker: database error, retrying")
                wait = 1.0
            except Exception:  # a bug with one message must not stop the sending
                logger.exception("worker: unexpected error, going on")
                wait = 1.0
            # Until a lane is free, or something is due (another worker may hold it: look
            # again soon).
            lanes.wait(max(wait, 0.05))
