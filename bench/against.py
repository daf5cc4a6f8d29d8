"""This tree against an earlier commit, on the same machine, interleaved: send throughput (one
`run_worker` and two, 10,000 leads into an aiosmtpd sink, PostgreSQL) and the cost of an
authenticated `GET /api/public/v1/me` (CPU microseconds per request in-process, and requests/s
through gunicorn with wrk). Each round runs the earlier commit and this tree back to back, in
alternating order, so drift on a shared machine hits both alike; the figures are the medians.

    python -m bench.against REV [--rounds 5] [--workers 1,2] [--seconds 5]

The earlier commit is checked out in a temporary git worktree; both trees run against one
database migrated by this tree (a refactor keeps the tables)."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller

from bench.auth_throughput import IN_PROCESS, wrk
from bench.send_throughput import CountingHandler, prepare_campaign, run_workers
from bench.server import ROOT, base_env, create_key, free_port, manage, postgres_database


@contextmanager
def worktree(rev: str):
    path = Path(tempfile.mkdtemp(prefix="coldsend-against-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(path), rev], cwd=ROOT, check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)
        shutil.rmtree(path.parent, ignore_errors=True)


def me_cpu_micros(tree: Path, env: dict[str, str], key: str) -> float:
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings", "BENCH_KEY": key,
           "BENCH_PATH": "/api/public/v1/me", "BENCH_GUARDS": "on"}  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS], cwd=tree, env=env, check=True, capture_output=True
    )
    return float(out.stdout.decode().split()[1])


@contextmanager
def gunicorn_in(tree: Path, env: dict[str, str]):
    port = free_port()
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    cmd = [sys.executable, "-m", "gunicorn", "coldsend.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2",
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tree, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                subprocess.run(["curl", "-fsS", "-o", "/dev/null", f"{base}/bench/baseline"],
                               check=True, capture_output=True)  # fmt: skip
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def line(name: str, before: list[float], after: list[float], unit: str) -> str:
    b, a = statistics.median(before), statistics.median(after)
    rounds = len(before)
    return f"{name}: before {b:,.1f} {unit}, after {a:,.1f} {unit} = {a / b:.3f}x ({rounds} rounds)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rev")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or postgres_database("cs_against_bench")
    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    env = base_env(
        url, SMTP_ALLOW_PRIVATE_HOSTS="true", SEND_BATCH_SIZE="200", WORKER_MAX_SLEEP_SECONDS="0.2",
        ENV_FILE="/dev/null", RATE_LIMIT="100000000/minute",
    )  # fmt: skip
    results: dict[str, dict[str, list[float]]] = {}
    try:
        manage(env, "migrate", "--noinput")
        from bench.server import setup_django

        setup_django(env)
        key = create_key(env, workspace="bench")
        with worktree(args.rev) as before:
            trees = {"before": before, "after": ROOT}
            for n in range(args.rounds):
                order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
                for side in order:
                    tree = trees[side]
                    for workers in (int(w) for w in args.workers.split(",")):
                        prepare_campaign(port)
                        rate = run_workers(env, handler, workers, tree)
                        results.setdefault(f"send, {workers} worker(s)", {}).setdefault(side, [])
                        results[f"send, {workers} worker(s)"][side].append(rate)
                        print(
                            f"round {n + 1} {side}: {workers} worker(s) {rate:.0f} msg/s",
                            flush=True,
                        )
                    micros = me_cpu_micros(tree, env, key)
                    results.setdefault("me, CPU per request", {}).setdefault(side, []).append(
                        micros
                    )
                    with gunicorn_in(tree, env) as base:
                        wrk(f"{base}/api/public/v1/me", 1, key)
                        rps = wrk(f"{base}/api/public/v1/me", args.seconds, key)
                    results.setdefault("me, gunicorn", {}).setdefault(side, []).append(rps)
                    print(
                        f"round {n + 1} {side}: me {micros:.0f} us CPU, {rps:.0f} req/s", flush=True
                    )
    finally:
        controller.stop()
    print(f"\n{args.rev} (before) against this tree (after):")
    units = {"me, CPU per request": "us", "me, gunicorn": "req/s"}
    for name, sides in results.items():
        print("  " + line(name, sides["before"], sides["after"], units.get(name, "msg/s")))


if __name__ == "__main__":
    main()
